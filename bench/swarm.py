"""Swarm engine against the local engine, in one run: seats started per minute, and exec latency.

    python bench/swarm.py [--seats 3] [--execs 30] [--lab nginx-misconfig]

The engine must be a swarm manager (`docker swarm init --advertise-addr 127.0.0.1`). For each
engine in turn (local, then swarm) it starts ``--seats`` instances of the lab one after another
(`start_lab`, the break included), times them, then runs ``--execs`` execs of `true` in the main
service's container (through the node's engine on swarm), and removes the instances by label —
also on Ctrl-C or an error. It prints both figures and their ratio (swarm / local) and writes
``bench/results/swarm-<date>.json``. Timings are never asserted anywhere.
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


def measure(engine_name: str, lab, seats: int, execs: int, run_id: str) -> dict:
    from orchestrator.engine import open_engine
    from orchestrator.engine.client import exec_in
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
        container = open_engine().instance(lab.id, names[0]).container()
        samples = []
        for _ in range(execs):
            t = time.perf_counter()
            exec_in(container, ["true"], deadline=10)
            samples.append(time.perf_counter() - t)
        return {"seats": seats, "seconds": round(elapsed, 2), "seats_per_minute": round(60 * seats / elapsed, 2), "exec_ms_median": round(1000 * statistics.median(samples), 1)}
    finally:
        for name in started or names:
            try:
                stop_lab(lab.id, name, record=False)
            except Exception as err:  # noqa: BLE001 - keep removing the others
                print(f"warning: stopping {lab.id}.{name}: {err}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=3)
    parser.add_argument("--execs", type=int, default=30)
    parser.add_argument("--lab", default="nginx-misconfig")
    args = parser.parse_args()
    os.environ.setdefault("LABS_STATE_DIR", tempfile.mkdtemp(prefix="labs-bench-swarm-"))
    from orchestrator.catalog import Catalog

    lab = Catalog.from_env().get(args.lab)
    run_id = secrets.token_hex(3)
    local = measure("docker", lab, args.seats, args.execs, run_id)
    swarm = measure("swarm", lab, args.seats, args.execs, run_id)
    ratios = {
        "seats_per_minute": round(swarm["seats_per_minute"] / local["seats_per_minute"], 2),
        "exec_latency": round(swarm["exec_ms_median"] / local["exec_ms_median"], 2),
    }
    result = {"lab": args.lab, "local": local, "swarm": swarm, "ratio_swarm_over_local": ratios, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"{'':22} {'local':>10} {'swarm':>10} {'swarm/local':>12}")
    print(f"{'seats started / min':22} {local['seats_per_minute']:>10} {swarm['seats_per_minute']:>10} {ratios['seats_per_minute']:>12}")
    print(f"{'exec median (ms)':22} {local['exec_ms_median']:>10} {swarm['exec_ms_median']:>10} {ratios['exec_latency']:>12}")
    out = REPO / "bench" / "results" / f"swarm-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
