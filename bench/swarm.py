"""Swarm engine against the local engine, in one run: seats started per minute, and exec latency.

    python bench/swarm.py [--seats 3] [--execs 30] [--lab nginx-misconfig]
    python bench/swarm.py --two-node [--seats 4] [--execs 30]

Single node (the default): the engine must be a swarm manager (`docker swarm init
--advertise-addr 127.0.0.1`). For each engine in turn (local, then swarm) it starts ``--seats``
instances of the lab one after another (`start_lab`, the break included), times them, then runs
``--execs`` execs of `true` in the main service's container (through the node's engine on swarm),
and removes the instances by label — also on Ctrl-C or an error.

``--two-node``: the swarm is a real two-node cluster on this machine, built like the tests build
it (tests/nested_engine.py: two nested engines, the manager reached over TLS, the lab's images
copied into both), and removed at the end with everything in it; the host engine's swarm state is
never touched. The seats are placed by Swarm (spread over both nodes), and exec latency is
measured through each node's engine: the worker's is a remote engine reached over TLS, as in a
real classroom. The local side is the host engine.

It prints the figures and their ratios (swarm / local) and writes
``bench/results/swarm[-two-node]-<date>.json``. Timings are never asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if Path(sys.executable).resolve() != (REPO / ".venv/bin/python").resolve() and (REPO / ".venv/bin/python").exists():
    os.execv(str(REPO / ".venv/bin/python"), [str(REPO / ".venv/bin/python"), *sys.argv])
sys.path.insert(0, str(REPO))


def exec_median_ms(container, execs: int) -> float:
    from orchestrator.engine.client import exec_in

    samples = []
    for _ in range(execs):
        t = time.perf_counter()
        exec_in(container, ["true"], deadline=10)
        samples.append(time.perf_counter() - t)
    return round(1000 * statistics.median(samples), 1)


def measure(engine_name: str, lab, seats: int, execs: int, run_id: str, nodes: dict[str, str] | None = None) -> dict:
    """Start ``seats`` instances one after another, then time execs. ``nodes`` (engine base URL ->
    node name) asks for the exec latency through each node's engine, one seat per node."""
    from orchestrator.engine import open_engine
    from orchestrator.lifecycle import start_lab, stop_lab

    os.environ["LABS_ENGINE"] = engine_name
    names = [f"b{run_id}{engine_name[0]}{n}" for n in range(seats)]
    started: list[str] = []
    try:
        begin = time.perf_counter()
        for name in names:
            start_lab(lab, name, record=False)
            started.append(name)
        elapsed = time.perf_counter() - begin
        engine = open_engine()
        result = {"seats": seats, "seconds": round(elapsed, 2), "seats_per_minute": round(60 * seats / elapsed, 2)}
        if not nodes:
            return {**result, "exec_ms_median": exec_median_ms(engine.instance(lab.id, names[0]).container(), execs)}
        by_node: dict[str, list] = {}  # node -> the main containers of its seats
        for name in names:
            container = engine.instance(lab.id, name).container()
            by_node.setdefault(nodes.get(container.client.api.base_url, container.client.api.base_url), []).append(container)
        result["seats_per_node"] = {node: len(found) for node, found in sorted(by_node.items())}
        result["exec_ms_median_by_node"] = {node: exec_median_ms(found[0], execs) for node, found in sorted(by_node.items())}
        return result
    finally:
        for name in started or names:
            try:
                stop_lab(lab.id, name, record=False)
            except Exception as err:  # noqa: BLE001 - keep removing the others
                print(f"warning: stopping {lab.id}.{name}: {err}", file=sys.stderr)


def two_node(lab, seats: int, execs: int, run_id: str) -> dict:
    """The swarm side on a two-node cluster of nested engines (built, loaded, removed here)."""
    import docker

    from orchestrator.engine.images import ensure_images
    from orchestrator.lifecycle import check_images
    from tests.nested_engine import load_images, nested_cluster

    host = docker.from_env(timeout=900)
    refs = list(ensure_images(host, check_images(lab), lab_folder=lab.folder).values())
    folder = Path(tempfile.mkdtemp(prefix="labs-bench-cluster-"))
    # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE would replace the cluster CA in requests: out for the swarm side.
    saved = {k: os.environ.get(k) for k in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "LABS_CLUSTER_DIR", "DOCKER_CONTEXT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    try:
        with nested_cluster(host, folder) as (manager, worker):
            began = time.perf_counter()
            load_images(host, [manager, worker], refs)
            print(f"two-node cluster ready (images loaded in {time.perf_counter() - began:.0f} s)", flush=True)
            os.environ.update(manager.cli_env())
            for name in ("DOCKER_CONTEXT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
                os.environ.pop(name, None)
            nodes = {manager.client.api.base_url: f"manager ({manager.name})", worker.client.api.base_url: f"worker ({worker.name})"}
            return measure("swarm", lab, seats, execs, run_id, nodes)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        host.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=3)
    parser.add_argument("--execs", type=int, default=30)
    parser.add_argument("--lab", default="nginx-misconfig")
    parser.add_argument("--two-node", action="store_true", help="the swarm side on a two-node cluster of nested engines built for the run")
    args = parser.parse_args()
    os.environ.setdefault("LABS_STATE_DIR", tempfile.mkdtemp(prefix="labs-bench-swarm-"))
    from orchestrator.catalog import Catalog

    lab = Catalog.from_env().get(args.lab)
    run_id = secrets.token_hex(3)
    local = measure("docker", lab, args.seats, args.execs, run_id)
    print(f"local engine: {local}", flush=True)
    swarm = two_node(lab, args.seats, args.execs, run_id) if args.two_node else measure("swarm", lab, args.seats, args.execs, run_id)
    ratios = {"seats_per_minute": round(swarm["seats_per_minute"] / local["seats_per_minute"], 2)}
    execs = swarm.get("exec_ms_median_by_node") or {"swarm": swarm["exec_ms_median"]}
    for node, ms in execs.items():
        ratios[f"exec_latency {node}" if args.two_node else "exec_latency"] = round(ms / local["exec_ms_median"], 2)
    result = {"lab": args.lab, "two_node": args.two_node, "local": local, "swarm": swarm, "ratio_swarm_over_local": ratios, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"{'':44} {'local':>10} {'swarm':>10} {'swarm/local':>12}")
    print(f"{'seats started / min':44} {local['seats_per_minute']:>10} {swarm['seats_per_minute']:>10} {ratios['seats_per_minute']:>12}")
    for node, ms in execs.items():
        label = f"exec median (ms) {node}" if args.two_node else "exec median (ms)"
        print(f"{label:44} {local['exec_ms_median']:>10} {ms:>10} {round(ms / local['exec_ms_median'], 2):>12}")
    if args.two_node:
        print(f"seats per node: {swarm['seats_per_node']}")
    out = REPO / "bench" / "results" / f"swarm{'-two-node' if args.two_node else ''}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
