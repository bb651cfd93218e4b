"""Benchmarks for `labs serve` (figures reported, never asserted), measured in one run on one engine.

    .venv/bin/python bench/web.py                   # all figures, writes bench/results/web-latest.{json,md}
    .venv/bin/python bench/web.py --keys 40 --terminals 30

- echo round trip: a keystroke typed into the browser terminal (headless Chromium, xterm.js)
  until its echo is back in the page, against the same keystroke through a raw `docker exec -it`
  under a pseudo-terminal, on the same container of the same engine (median of --keys each;
  goal ≤ 1.5×);
- idle CPU: the server's CPU (utime+stime from /proc) over 20 s with --terminals WebSocket
  terminals open, each its own shell (spread over the two services of --instances
  nginx-misconfig instances, several shells each), in % of one core (goal < 25 %);
- check to instructor: from the learner's Check answer to the instructor page showing it
  (goal ≤ 2 s).

Only instances named ``wb-<run id>-<n>`` are created, and only those are removed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import re
import secrets
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
LAB = "nginx-misconfig"
RUN = secrets.token_hex(2)
PYTHON = sys.executable
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,900"]


def say(text: str) -> None:
    print(f"[bench web {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def labs(env, *args, timeout=600):
    return subprocess.run([PYTHON, "-m", "orchestrator", *args], env=env, capture_output=True, text=True, timeout=timeout)


class Server:
    def __init__(self, env, *args):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile("w+", prefix="labs-serve-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([PYTHON, "-m", "orchestrator", "serve", "--port", str(self.port), *args], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("labs serve did not start")

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='labs-bench-chromium-')}")
    options.binary_location = shutil.which("chromium")
    return webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))


SEAT_OBJECTIVES = """const e = document.querySelector('#seats tr[data-seat="1"] td.objectives'); return e ? e.innerText : '';"""
BROWSER_ROUND_TRIPS = """
const [count, done] = [arguments[0], arguments[arguments.length - 1]];
const term = window.labsTerminal;
const samples = [];
let pending = null;
const sub = term.onWriteParsed(() => { if (pending) { const p = pending; pending = null; p(); } });
(async () => {
  for (let i = 0; i < count; i++) {
    await new Promise((r) => setTimeout(r, 60));
    const t0 = performance.now();
    await new Promise((resolve) => { pending = resolve; term.input('x', true); });
    samples.push(performance.now() - t0);
  }
  term.input('\\x15', true);  // Ctrl-U: clear the line
  sub.dispose();
  done(samples);
})();
"""


def browser_echo(base: str, instance: str, keys: int) -> list[float]:
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium()
    try:
        driver.set_script_timeout(120)
        driver.get(f"{base}/labs/{LAB}?instance={instance}")
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(
            "return !!window.labsTerminal && document.getElementById('term-status').textContent.startsWith('connected')"))
        time.sleep(2)
        samples = driver.execute_async_script(BROWSER_ROUND_TRIPS, keys)
        return [s / 1000 for s in samples]
    finally:
        driver.quit()


def raw_echo(container: str, keys: int) -> list[float]:
    """The same keystroke through `docker exec -it CONTAINER bash -l` under a pseudo-terminal."""
    pid, master = pty.fork()
    if pid == 0:
        os.execvp("docker", ["docker", "exec", "-it", "-e", "TERM=xterm-256color", container, "/bin/bash", "-l"])

    def drain(timeout):
        data = b""
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                return data
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the exec ended: the pseudo-terminal is closed
                return data
            if not chunk:
                return data
            data += chunk
            timeout = 0.05

    try:
        deadline = time.monotonic() + 30
        seen = b""
        while b"#" not in seen and time.monotonic() < deadline:
            seen += drain(1)
        drain(0.5)
        samples = []
        for _ in range(keys):
            time.sleep(0.06)
            t0 = time.perf_counter()
            os.write(master, b"x")
            got = b""
            while b"x" not in got:
                ready, _, _ = select.select([master], [], [], 10)
                if not ready:
                    raise RuntimeError("no echo from docker exec -it")
                got += os.read(master, 65536)
            samples.append(time.perf_counter() - t0)
        os.write(master, b"\x15exit\r")
        drain(1)
        return samples
    finally:
        os.close(master)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


async def open_terminals(base: str, targets: list[tuple[str, str]]):
    import websockets

    host = base.split("//", 1)[1]
    sockets = []
    for instance, service, shell in targets:
        ws = await websockets.connect(f"ws://{host}/ws/terminal/{LAB}/{instance}/{service}?shell={shell}", origin=base, max_size=None)
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        sockets.append(ws)
    # every shell answers once, then all stay idle
    for ws in sockets:
        await ws.send(b"echo ready\n")

    async def drain(ws):
        seen = b""
        while b"ready\r\n" not in seen:
            message = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(message, bytes):
                seen += message
                await ws.send(json.dumps({"type": "ack", "bytes": len(message)}))

    await asyncio.gather(*(drain(ws) for ws in sockets))
    return sockets


def idle_cpu(server: Server, targets, seconds: float) -> dict:
    async def scenario():
        sockets = await open_terminals(server.base, targets)
        await asyncio.sleep(3)
        before, t0 = server.cpu_seconds(), time.monotonic()
        await asyncio.sleep(seconds)
        used = server.cpu_seconds() - before
        elapsed = time.monotonic() - t0
        for ws in sockets:
            await ws.close()
        return {"terminals": len(sockets), "seconds": round(elapsed, 1), "cpu_percent_of_one_core": round(100 * used / elapsed, 2)}

    return asyncio.run(scenario())


def check_to_instructor(env) -> float:
    """Seconds from the learner's Check answer to the instructor page showing its result."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server = Server(env, "--seats", "1", "--lab", LAB)
    teacher = learner = None
    try:
        links = dict(re.findall(r"^\s+(instructor|seat\s+1)\b.*?(http://\S+)$", server.output(), re.M))
        teacher, learner = chromium(), chromium()
        teacher.get(links["instructor"])
        learner.get(next(v for k, v in links.items() if k.startswith("seat")))
        WebDriverWait(learner, 30).until(lambda d: d.find_element(By.ID, "state").text not in ("…", ""))
        learner.find_element(By.ID, "start").click()
        WebDriverWait(learner, 300).until(lambda d: d.find_element(By.ID, "state").text == "running")
        learner.find_element(By.ID, "check").click()
        WebDriverWait(learner, 300, poll_frequency=0.05).until(lambda d: "objectives pass" in d.find_element(By.ID, "check-summary").text)
        answered = time.monotonic()
        WebDriverWait(teacher, 30, poll_frequency=0.05).until(
            lambda d: "/" in d.execute_script(SEAT_OBJECTIVES))
        return time.monotonic() - answered
    finally:
        for driver in (teacher, learner):
            if driver:
                driver.quit()
        server.stop()
        labs(env, "stop", LAB, "--instance", "seat-1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument("--terminals", type=int, default=30)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--instances", type=int, default=3, help="instances the terminals are spread over (2 services each)")
    parser.add_argument("--json", type=Path, default=RESULTS / "web-latest.json")
    args = parser.parse_args()
    env = {**os.environ, "LABS_STATE_DIR": tempfile.mkdtemp(prefix="labs-bench-web-")}
    instances = [f"wb-{RUN}-{n}" for n in range(args.instances)]
    results: dict = {"run": RUN, "when": time.strftime("%Y-%m-%d %H:%M:%S"), "cores": os.cpu_count(), "load": os.getloadavg()}
    server = None
    try:
        say(f"starting {len(instances)} instance(s) of {LAB}")
        for name in instances:
            started = labs(env, "start", LAB, "--instance", name)
            if started.returncode != 0:
                raise RuntimeError(started.stderr)
        server = Server(env)
        say("echo round trips: browser terminal")
        browser = browser_echo(server.base, instances[0], args.keys)
        say("echo round trips: docker exec -it")
        raw = raw_echo(f"labs-{LAB}-{instances[0]}-proxy", args.keys)
        results["echo"] = {"browser_median_ms": round(1000 * statistics.median(browser), 2), "raw_median_ms": round(1000 * statistics.median(raw), 2),
                           "ratio": round(statistics.median(browser) / statistics.median(raw), 2), "keys": args.keys,
                           "browser_samples_ms": [round(1000 * s, 2) for s in browser], "raw_samples_ms": [round(1000 * s, 2) for s in raw]}
        say(f"echo: {results['echo']['browser_median_ms']} ms vs {results['echo']['raw_median_ms']} ms")
        shells = [(name, service, n) for n in range(10) for name in instances for service in ("proxy", "app")]
        targets = shells[: args.terminals]
        say(f"idle CPU with {len(targets)} terminals open")
        results["idle"] = idle_cpu(server, targets, args.idle_seconds)
        say(f"idle: {results['idle']}")
    finally:
        if server:
            server.stop()
        for name in instances:
            labs(env, "stop", LAB, "--instance", name)
    say("check result to the instructor page")
    results["check_to_instructor_s"] = round(check_to_instructor(env), 2)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    table = "\n".join([
        "| figure | labs serve | raw / goal |", "|---|---|---|",
        f"| keystroke echo round trip (median of {args.keys}) | {results['echo']['browser_median_ms']} ms (browser terminal) | {results['echo']['raw_median_ms']} ms (`docker exec -it`): **{results['echo']['ratio']}×** (goal ≤ 1.5×) |",
        f"| idle CPU, {results['idle']['terminals']} terminals open | {results['idle']['cpu_percent_of_one_core']} % of one core | goal < 25 % |",
        f"| Check answer → instructor page | {results['check_to_instructor_s']} s | goal ≤ 2 s |",
    ])
    args.json.with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
