"""Objectives for lb-backend-down: every request through the load balancer succeeds,
every web node serves its share, the balancer takes a dead node out by itself, for good.

Requests go through the balancer's published port from outside, each with a fresh trace
id. An answer counts only if it carries this instance's shop token and its trace id, and
the node it names printed that trace id in its own log (the engine's log of that
container, which no file on a node can fake). To prove the health check, a pristine probe
in one node's pid namespace stops that node's app; every service is restarted afterwards.
"""

import json
import time
from collections import Counter

NODES = ("web1", "web2", "web3")
ROUNDS = 30


def _round(lab, count: int = ROUNDS) -> tuple[list[str], dict[str, list[str]]]:
    """Send ``count`` requests; return (problems seen, node -> trace ids it claimed)."""
    problems, served = [], {node: [] for node in NODES}
    for _ in range(count):
        trace = lab.trace_id()
        resp = lab.http("lb", 80, "/", headers={"X-Trace-Id": trace}, timeout=10)
        if resp.status != 200:
            server = resp.headers.get("server", "no Server header")
            problems.append(f"HTTP {resp.status} answered by {server}" if resp.status else resp.describe()[:120])
            continue
        try:
            answer = json.loads(resp.body)
        except ValueError:
            answer = {}
        if not isinstance(answer, dict) or answer.get("shop") != lab.values["shop_token"] or answer.get("trace") != trace or answer.get("node") not in NODES:
            problems.append(f"HTTP 200 that is not a live shop page of this instance ({resp.describe()[:90]})")
            continue
        served[answer["node"]].append(trace)
    return problems, served


def _summary(problems: list[str]) -> str:
    counts = Counter(problems).most_common(2)
    return "; ".join(f"{n}× {what}" for what, n in counts)


def _unproven(lab, served: dict[str, list[str]]) -> list[str]:
    """Nodes that claimed requests their own log does not show (the engine copies a
    container's output asynchronously: allow it a few seconds to land)."""
    deadline = time.monotonic() + 8
    while True:
        missing = [node for node, traces in served.items() if traces and not all(t in lab.logs(node) for t in traces)]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


def _all_ok(lab) -> str | None:
    problems, served = _round(lab)
    if problems:
        return f"not all requests succeeded, so the share could not be counted: {len(problems)} of {ROUNDS} requests through the load balancer failed: {_summary(problems)} — look at which node answers them and what HAProxy thinks of it (its stats socket)"
    idle = [node for node in NODES if not served[node]]
    if idle:
        return f"all {ROUNDS} requests succeeded, but {', '.join(idle)} answered none of them (counts: {', '.join(f'{n}={len(served[n])}' for n in NODES)}) — look at how /etc/haproxy/haproxy.cfg lists that node and whether its shop app runs"
    fake = _unproven(lab, served)
    if fake:
        return f"{', '.join(fake)} answered requests that its shop app never logged — requests must be served by the real shop app on each node"
    return None


def test_nodes_unmodified(lab):
    """The shop app, the nodes' tools and the balancer's tools are as shipped"""
    problems = []
    for node in NODES:
        problems += lab.integrity(node, ["/srv/shopfront"]) + lab.integrity(node)
    problems += lab.integrity("lb")
    assert not problems, f"{problems[0]} — the fix belongs in configuration and files the deploy changed, not in the app or the tools (labs reset starts over)"


def test_every_request_succeeds(lab):
    """Every request through the load balancer succeeds"""
    problems, _ = _round(lab)
    assert not problems, f"{len(problems)} of {ROUNDS} requests through the load balancer failed: {_summary(problems)} — look at which node answers them and what HAProxy thinks of it (its stats socket)"


def test_every_node_serves(lab):
    """All three web nodes serve their share of the requests"""
    problem = _all_ok(lab)
    assert problem is None, problem


def test_dead_node_taken_out(lab):
    """When a node's shop app dies, the balancer stops sending it users"""
    before = _all_ok(lab)
    assert before is None, f"not tried: the shop does not work with all three nodes yet ({before})"
    stopped = lab.probe(["sh", "-c", "pkill -f '^python3 -u /srv/shopfront/app.py' && echo stopped"], image="probe", join="web1", pid=True, timeout=20)
    try:
        assert "stopped" in stopped.stdout, f"the probe could not stop web1's shop app ({stopped.output.strip()[:160]}) — is it running?"
        deadline, streak, seen = time.monotonic() + 20, 0, []
        while time.monotonic() < deadline and streak < 15:
            problems, served = _round(lab, 1)
            if problems or served["web1"]:
                streak = 0
                seen += problems or ["a request still reached web1"]
                time.sleep(0.3)
            else:
                streak += 1
        assert streak >= 15, f"with web1's shop app stopped, users kept hitting it for 20 s ({_summary(seen)}) — look at what HAProxy's health check asks a node for"
    finally:
        lab.restart("web1")  # its init starts the app again


def test_survives_restart(lab):
    """Everything still works after every service restarts"""
    lab.restart_all()
    deadline = time.monotonic() + 8
    problem = _all_ok(lab)
    while problem and time.monotonic() < deadline:  # health checks need a moment to mark nodes up
        time.sleep(1)
        problem = _all_ok(lab)
    assert problem is None, f"after restarting every service: {problem} (a fix made only in a running process is lost on restart)"
