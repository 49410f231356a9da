"""Repository URLs as the sources compare and show them: git URLs reduced to `host/owner/repo`,
and any URL without the credentials it may carry.

    >>> normalised_url("git@github.com:example/home-ops.git")
    'github.com/example/home-ops'
    >>> shown_url("https://user:token@example.com/charts")
    'https://example.com/charts'
"""

from __future__ import annotations

import re
import urllib.parse

_SCP_LIKE = re.compile(r"(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>(?!//).*)")  # git@host:owner/repo


def normalised_url(url: str) -> str:
    """A git URL as `host/owner/repo`: scheme, user, port, trailing `.git` and `/` dropped, the
    host in lower case (https, ssh and scp-like `git@host:owner/repo` name one repository)."""
    text = url.strip()
    scp = _SCP_LIKE.fullmatch(text)
    if "://" in text:
        parts = urllib.parse.urlsplit(text)
        host, path = parts.hostname or "", parts.path
    elif scp is not None:
        host, path = scp["host"], scp["path"]
    else:  # a local path
        host, path = "", text
    path = path.strip("/").removesuffix(".git").rstrip("/")
    return f"{host.lower()}/{path}"


def shown_url(url: str) -> str:
    """`url` without the credentials it may carry (`https://user:token@host/...`): secret
    values never appear in messages."""
    parts = urllib.parse.urlsplit(url)
    if "://" not in url or "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
