"""Live groups the repository does not manage are context: they hold IPs and ports but are never
touched, leaving or deleted (issue 13, part 2)."""

from __future__ import annotations

from pathlib import Path

from planner.pipeline import build_report, load_scenario
from planner.sources.live import LiveSource

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "seed-dns-local"

# Another team's Services on one shared IP, applied by hand (no GitOps tracking marks), as a
# `kubectl get svc -A -o yaml` of the whole cluster shows them next to the repo's own.
MEDIA = """\
- apiVersion: v1
  kind: Service
  metadata:
    annotations:
      metallb.io/allow-shared-ip: plex
      metallb.io/ip-allocated-from-pool: lan
    name: {name}
    namespace: media
    uid: 0d9e7a0c-5b7e-4d55-8f0e-{uid}
  spec:
    clusterIP: 10.96.44.{octet}
    externalTrafficPolicy: Cluster
    ipFamilies: [IPv4]
    ipFamilyPolicy: SingleStack
    ports:
    - {{nodePort: 3{octet}40, port: 32400, protocol: {protocol}, targetPort: 32400}}
    selector: {{app: plex}}
    type: LoadBalancer
  status:
    loadBalancer:
      ingress:
      - ip: 192.168.10.70
"""


def _cluster_snapshot(tmp_path: Path) -> Path:
    """The sample's live snapshot with the media team's group added to its items."""
    text = (SAMPLE / "live.yaml").read_text()
    extra = MEDIA.format(name="plex-tcp", uid="000000000001", octet=11, protocol="TCP")
    extra += MEDIA.format(name="plex-udp", uid="000000000002", octet=12, protocol="UDP")
    head, items = text.split("items:\n", 1)
    live = tmp_path / "cluster.yaml"
    live.write_text(head + "items:\n" + extra + items)
    return live


def test_an_unmanaged_live_group_is_context_never_touched(tmp_path: Path) -> None:
    live = LiveSource.file(str(_cluster_snapshot(tmp_path)))
    desired = [str(SAMPLE / "desired")]
    scenario = load_scenario(desired, live)
    assert scenario.unmanaged_services == ("media/plex-tcp", "media/plex-udp")
    assert scenario.deleted_services == ()
    report = build_report(desired, live)
    # before, the group was "touched" with both members "leaving"
    (media,) = [g for g in report.groups if "media/plex-tcp" in g.members]
    assert media.members == ("media/plex-tcp", "media/plex-udp")
    assert media.ips == ("192.168.10.70",)
    assert not media.touched
    assert media.leaving == () and media.joining == ()
    # the repo's own group is still the one the commit touches
    assert [g.members for g in report.groups if g.touched] == [("dns/dns-tcp", "dns/dns-udp")]


def test_prune_namespaces_deletes_only_in_the_repos_namespaces(tmp_path: Path) -> None:
    live = LiveSource.file(str(_cluster_snapshot(tmp_path)))
    scenario = load_scenario([str(SAMPLE / "desired")], live, prune="namespaces")
    assert "media/plex-tcp" in scenario.unmanaged_services
    assert not [s for s in scenario.deleted_services if s.startswith("media/")]
