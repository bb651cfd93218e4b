"""The egress guard: nothing is forwarded between a lab's bridge and anything beyond it.

Docker's own options are not enough: an ``internal`` network still lets the host route, and a
bridge without masquerading still forwards a container's packets out (a SYN or a DNS query to an
outside address leaves the host; only the reply cannot come back). So for every lab network
that does not opt into ``egress: true``, labs installs, when it creates the network and before
any container starts, rules that the engine never touches:

- in ``DOCKER-USER`` (the chain Docker evaluates first in FORWARD, and leaves to its users):
  drop whatever enters the lab's bridge from elsewhere and whatever leaves it for elsewhere —
  both directions, published ports or not;
- in ``INPUT``: drop new connections from the lab's bridge to the host itself (the host's own
  addresses, its LAN address included), while replies to the host's connections still pass.

Published ports keep working: they listen on 127.0.0.1 and reach the containers from the host
(OUTPUT and INPUT, never FORWARD). Traffic between containers of one lab stays on its bridge.
Every rule carries the comment ``labs:<network id>``; removing the network removes its rules,
and rules whose bridge is gone (a killed command) are swept on the next removal.

The guard needs the engine to share this machine's network namespace (its bridges are visible
here), the ``iptables`` command and the right to change the firewall (root). ``status()`` says
whether this host can guarantee it; ``labs doctor`` reports it.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

COMMENT_PREFIX = "labs:"
FORWARD_CHAIN = "DOCKER-USER"


class GuardUnavailable(Exception):
    """The host cannot install the egress guard (the reason is the message)."""


@dataclass
class GuardStatus:
    ok: bool
    detail: str


def _iptables() -> str:
    binary = shutil.which("iptables") or next((p for p in ("/usr/sbin/iptables", "/sbin/iptables") if os.path.exists(p)), None)
    if binary is None:
        raise GuardUnavailable("the iptables command is not installed")
    return binary


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([_iptables(), "-w", "5", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise GuardUnavailable(f"iptables {' '.join(args)} failed: {(result.stderr or result.stdout).strip()}")
    return result


@functools.lru_cache(maxsize=1)
def _forward_chain() -> str:
    """DOCKER-USER when the engine manages the firewall, else FORWARD itself."""
    return FORWARD_CHAIN if _run("-S", FORWARD_CHAIN, check=False).returncode == 0 else "FORWARD"


def status() -> GuardStatus:
    """Can this host guarantee that lab networks have no way out?"""
    if os.geteuid() != 0:
        return GuardStatus(False, "labs is not running as root, so it cannot install its firewall rules (containers can still send packets beyond the lab)")
    try:
        _run("-S", "INPUT")
        chain = _forward_chain()
    except GuardUnavailable as err:
        return GuardStatus(False, str(err))
    return GuardStatus(True, f"lab bridges are fenced in {chain} and INPUT (iptables)")


def bridge_name(network_attrs: dict) -> str:
    """The Linux bridge of a Docker bridge network."""
    options = network_attrs.get("Options") or {}
    return options.get("com.docker.network.bridge.name") or f"br-{network_attrs['Id'][:12]}"


def _rules(bridge: str, tag: str) -> list[tuple[str, list[str]]]:
    comment = ["-m", "comment", "--comment", f"{COMMENT_PREFIX}{tag}"]
    forward = _forward_chain()
    return [
        (forward, ["-i", bridge, "!", "-o", bridge, *comment, "-j", "DROP"]),
        (forward, ["-o", bridge, "!", "-i", bridge, *comment, "-j", "DROP"]),
        ("INPUT", ["-i", bridge, "-m", "conntrack", "!", "--ctstate", "ESTABLISHED,RELATED", *comment, "-j", "DROP"]),
    ]


def guard(network_attrs: dict) -> None:
    """Fence a lab network's bridge (idempotent). ``GuardUnavailable`` when this host cannot."""
    bridge = bridge_name(network_attrs)
    if not Path("/sys/class/net", bridge).exists():
        raise GuardUnavailable(f"the engine's bridge {bridge} is not visible on this machine (the engine runs elsewhere, e.g. in a VM)")
    if os.geteuid() != 0:
        raise GuardUnavailable(status().detail)
    for chain, rule in _rules(bridge, network_attrs["Id"][:12]):
        if _run("-C", chain, *rule, check=False).returncode != 0:  # present after a reset or resume
            _run("-I", chain, "1", *rule)


def _labelled_rules() -> list[tuple[str, str, str]]:
    """(chain, rule spec after the chain name, network tag) of every rule labs installed."""
    found = []
    for chain in {_forward_chain(), "INPUT"}:
        for line in _run("-S", chain, check=False).stdout.splitlines():
            match = re.search(rf'--comment "?{COMMENT_PREFIX}([0-9a-f]+)"?', line)
            if match and line.startswith(f"-A {chain} "):
                found.append((chain, line[len(f"-A {chain} "):], match.group(1)))
    return found


def release(network_ids: list[str] = (), *, sweep: bool = True) -> None:
    """Remove the rules of the given networks, and (sweep) those whose bridge no longer exists.
    Best effort: a host without the guard has nothing to remove."""
    if os.geteuid() != 0:
        return
    try:
        tags = {n[:12] for n in network_ids}
        for chain, spec, tag in _labelled_rules():
            gone = not Path("/sys/class/net", f"br-{tag}").exists()
            if tag in tags or (sweep and gone):
                _run("-D", chain, *_split(spec), check=False)
    except (GuardUnavailable, OSError, subprocess.SubprocessError):
        pass


def _split(spec: str) -> list[str]:
    import shlex

    return shlex.split(spec)
