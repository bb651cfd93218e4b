"""Objectives for runaway-process: the price API fast again, the retired importer gone for good.

Latency is judged against a baseline taken in the same check (the shop's own health check,
which needs no database), alternating, so a busy machine slows both: "slow" only when the
price API is many times slower than the health check. Processes are watched by a pristine
probe in the container's pid namespace, after a restart of every service, for several
seconds: a process that comes back, and its parent, are what it reports.
"""

from __future__ import annotations

import json
import statistics
import time

SERVICE, PORT = "web", 8000
WATCH_SECONDS = 8

# In the probe image, in the service's pid namespace: every process whose command line runs
# the importer (or its watchdog) during the watch, with its parent's command line.
WATCH = r"""
import json, os, sys, time
seconds = float(sys.argv[1])
def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""
def parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0
seen, shop = {}, False
end = time.monotonic() + seconds
while time.monotonic() < end:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        args = cmdline(pid)
        if "/opt/labs/shop.py" in args:
            shop = True
        if "feed-sync.py" in args and not args.startswith(("runsv", "chpst")) and pid not in seen and int(pid) != os.getpid():
            ppid = parent(pid)
            seen[pid] = {"pid": int(pid), "args": args[:100], "parent": cmdline(ppid)[:100] or f"pid {ppid}"}
    time.sleep(0.3)
print(json.dumps({"feed_sync": list(seen.values()), "shop": shop}))
"""


def _quote(lab, sku: str, timeout: float = 4):
    return lab.http(SERVICE, PORT, f"/api/quote?sku={sku}", timeout=timeout)


def _latency_problem(lab) -> str | None:
    """Alternate a price request and a health check; slow only when the price API's median is
    many times the health check's, by a margin no busy machine explains."""
    _wait_for_shop(lab)
    sku = f"SKU-{lab.nonce[:10]}"
    quotes, checks, failed = [], [], []
    for _ in range(6):
        for path, into in ((f"/api/quote?sku={sku}", quotes), ("/healthz", checks)):
            resp = lab.http(SERVICE, PORT, path, timeout=4)
            if resp.ok:
                into.append(resp.seconds)
            elif into is quotes:
                failed.append(resp.describe())
    if not checks:
        return "the shop's health check (/healthz) does not answer — is the shop running? (`sv status /etc/service/shop`)"
    baseline = statistics.median(checks)
    if failed:
        return (f"{len(failed)} of 6 price requests failed or took over 4 s ({failed[0][:120]}), while the health check answered in "
                f"{baseline * 1000:.0f} ms — look at what the shop waits for (its log) and what else uses its catalogue")
    median = statistics.median(quotes)
    if median > max(0.5, 10 * baseline):
        return (f"price requests are slow: median {median * 1000:.0f} ms against {baseline * 1000:.0f} ms for the health check, measured "
                "side by side — look at what the shop waits for (its log) and at what eats the CPU")
    return None


def _watch(lab) -> dict:
    result = lab.probe(["python3", "-c", WATCH, str(WATCH_SECONDS)], image="probe", service=SERVICE, pid=True, timeout=WATCH_SECONDS + 20)
    assert result.exit_code == 0, f"the process probe failed: {result.output[-300:]}"
    return json.loads(result.stdout)


def _respawn_problem(watched: dict) -> str | None:
    found = watched["feed_sync"]
    if not found:
        return None
    first = found[0]
    return (f"within {WATCH_SECONDS} s {len(found)} feed-sync process(es) ran, e.g. pid {first['pid']} `{first['args']}` "
            f"started by `{first['parent']}` — look at everything that starts it")


def _wait_for_shop(lab) -> None:
    for _ in range(40):
        if lab.http(SERVICE, PORT, "/healthz").ok:
            return
        time.sleep(0.25)


# --- objectives ---------------------------------------------------------------------------


def test_prices_fast(lab):
    """Price requests are about as fast as the shop's health check"""
    problem = _latency_problem(lab)
    assert problem is None, problem


def test_prices_correct(lab):
    """The shop serves this catalogue's prices"""
    sku = f"SKU-{lab.nonce[:10]}"
    resp = _quote(lab, sku, timeout=15)
    assert resp.status == 200, f"GET /api/quote?sku={sku} got {resp.describe()} — the shop must keep serving its catalogue"
    answer = json.loads(resp.body)
    assert answer.get("price_cents") == 2500 and lab.nonce in str(answer.get("name")), f"the shop answered {answer!r}, not this catalogue's item"


def test_shop_code_unmodified(lab):
    """The shop's code and the services shipped with the host are unmodified"""
    problems = lab.integrity(SERVICE, paths=["/opt/labs", "/usr/bin", "/usr/sbin"])
    assert not problems, "; ".join(problems[:3]) + " — fix what runs, not the programs"


def test_nothing_restarts_it(lab):
    """After a restart of every service, nothing starts the importer again, and prices stay fast"""
    lab.restart_all()
    _wait_for_shop(lab)
    watched = _watch(lab)
    problems = [p for p in (_respawn_problem(watched),) if p]
    if not watched["shop"]:
        problems.append("the shop itself did not come back after the restart — look at `sv status /etc/service/shop`")
    else:
        latency = _latency_problem(lab)
        problems += [latency] if latency else []
    assert not problems, "after restarting every service: " + " · ".join(problems)
