"""Reading desired and live state into `KubeObject`s that remember their origin.

from planner.sources import load_desired, load_live_file
desired = load_desired(["manifests/"])
live = load_live_file("snapshot.yaml")
"""

from __future__ import annotations

from planner.sources.desired import load_desired
from planner.sources.helm import HelmOptions
from planner.sources.live import load_live_file, load_live_git, load_live_kubectl
from planner.sources.states import DesiredState, LiveState

__all__ = [
    "DesiredState",
    "HelmOptions",
    "LiveState",
    "load_desired",
    "load_live_file",
    "load_live_git",
    "load_live_kubectl",
]
