"""Benchmarks for `labs`: every figure as a ratio against its raw floor, measured in one run on one engine.

    python bench/run.py                  # the full run (about 16 minutes here), writes bench/results/latest.{json,md}
    python bench/run.py --quick          # fewer repetitions, no cold build, 5 instances for capacity
    python bench/run.py --only cli,start --repeat 7
    python bench/run.py --profile        # also save a cProfile of the labs side of each figure

Each figure runs the `labs` side and its raw floor alternately (so drift on a
shared machine hits both alike), several times, and compares the medians.
A figure that fails prints its error and the run goes on. Timings are
reported, never asserted.

Only named instances with a ``bench-<run id>-`` prefix are created, and only
those are removed (by their ``io.labs.instance`` label), also on Ctrl-C or an
error. The cold build uses temporary tags (``labs-bench/*:cold-<run id>``)
and removes only those.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
VENV = REPO / ".venv" / "bin"
LAB_ID = "nginx-misconfig"


def _reexec_in_venv() -> None:
    """Run under the project's venv when started with another python (`python bench/run.py`)."""
    try:
        import docker  # noqa: F401

        import orchestrator  # noqa: F401
    except ImportError:
        venv_python = VENV / "python"
        if venv_python.exists() and not os.environ.get("LABS_BENCH_REEXEC"):
            os.environ["LABS_BENCH_REEXEC"] = "1"
            os.execv(str(venv_python), [str(venv_python), *sys.argv])
        raise


_reexec_in_venv()

import docker  # noqa: E402

from orchestrator import __version__ as LABS_VERSION  # noqa: E402

PYTHON = str(VENV / "python") if (VENV / "python").exists() else sys.executable
LABS = str(VENV / "labs") if (VENV / "labs").exists() else (shutil.which("labs") or "labs")
PYTEST = str(VENV / "pytest") if (VENV / "pytest").exists() else (shutil.which("pytest") or "pytest")

RUN_ID = secrets.token_hex(2)  # keeps this run's instance names and tags unique
PREFIX = f"bench-{RUN_ID}"
CREATED: set[str] = set()  # instance keys this run created, removed in the end whatever happens


# --------------------------------------------------------------------------- output


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


@dataclass
class Goal:
    kind: str  # ratio_max, abs_max, abs_max_and_faster, min_count
    value: float
    unit: str = ""

    def text(self) -> str:
        if self.kind == "ratio_max":
            return f"≤ {self.value:g}×"
        if self.kind == "abs_max":
            return f"≤ {fmt(self.value, self.unit)}"
        if self.kind == "abs_max_and_faster":
            return f"≤ {fmt(self.value, self.unit)} and < raw"
        if self.kind == "min_count":
            return f"≥ {self.value:g}"
        return "?"


@dataclass
class Row:
    figure: str
    name: str  # the --only group it belongs to
    unit: str  # s, MB, count
    goal: Goal | None
    labs: float | None = None  # median of the labs side
    raw: float | None = None  # median of the raw floor
    ratio: float | None = None
    met: bool | None = None
    verdict: str = ""
    labs_samples: list[float] = field(default_factory=list)
    raw_samples: list[float] = field(default_factory=list)
    labs_cmd: str = ""
    raw_cmd: str = ""
    note: str = ""
    error: str | None = None

    def judge(self) -> None:
        if self.labs is None and self.labs_samples:
            self.labs = statistics.median(self.labs_samples)
        if self.raw is None and self.raw_samples:
            self.raw = statistics.median(self.raw_samples)
        if self.labs is not None and self.raw not in (None, 0):
            self.ratio = self.labs / self.raw
        if self.error or self.goal is None:
            return
        goal = self.goal
        if goal.kind == "ratio_max" and self.ratio is not None:
            self.met = self.ratio <= goal.value
            diff = self.ratio - goal.value
            self.verdict = "yes" if self.met else f"no: {diff:+.2f}× over ({diff / goal.value:+.0%})"
        elif goal.kind == "abs_max" and self.labs is not None:
            self.met = self.labs <= goal.value
            diff = self.labs - goal.value
            self.verdict = "yes" if self.met else f"no: {fmt(diff, self.unit, sign=True)} over ({diff / goal.value:+.0%})"
        elif goal.kind == "abs_max_and_faster" and self.labs is not None:
            faster = self.raw is None or self.labs < self.raw
            within = self.labs <= goal.value
            self.met = faster and within
            misses = []
            if not within:
                misses.append(f"{fmt(self.labs - goal.value, self.unit, sign=True)} over {fmt(goal.value, self.unit)}")
            if not faster:
                misses.append(f"{fmt(self.labs - self.raw, self.unit, sign=True)} slower than raw")
            self.verdict = "yes" if self.met else "no: " + "; ".join(misses)
        elif goal.kind == "min_count" and self.labs is not None:
            self.met = self.labs >= goal.value
            self.verdict = "yes" if self.met else f"no: {goal.value - self.labs:g} short"
        if self.met is None and not self.verdict:
            self.verdict = "n/a"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["goal"] = None if self.goal is None else {**asdict(self.goal), "text": self.goal.text()}
        for key in ("labs", "raw", "ratio"):
            if data[key] is not None:
                data[key] = round(data[key], 4)
        data["labs_samples"] = [round(x, 4) for x in self.labs_samples]
        data["raw_samples"] = [round(x, 4) for x in self.raw_samples]
        return data


def fmt(value: float | None, unit: str, sign: bool = False) -> str:
    if value is None:
        return "—"
    plus = "+" if sign and value >= 0 else ""
    if unit == "s":
        return f"{plus}{value:.2f} s" if abs(value) < 100 else f"{plus}{value:.0f} s"
    if unit == "MB":
        return f"{plus}{value:.1f} MB"
    if unit == "count":
        return f"{plus}{value:g}"
    return f"{plus}{value:g}{unit}"


HEADERS = ["figure", "labs median", "raw median", "ratio", "goal", "met?"]


def table_cells(row: Row) -> list[str]:
    if row.error:
        return [row.figure, "—", "—", "—", row.goal.text() if row.goal else "—", f"ERROR: {row.error.splitlines()[0][:70]}"]
    ratio = f"{row.ratio:.2f}×" if row.ratio is not None else "—"
    return [row.figure, fmt(row.labs, row.unit), fmt(row.raw, row.unit), ratio, row.goal.text() if row.goal else "—", row.verdict]


def text_table(rows: list[Row]) -> str:
    cells = [HEADERS] + [table_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADERS))]
    lines = []
    for n, line in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in table_cells(row)) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- running things


class Env:
    """Everything the figures share: the engine, a private state folder, options."""

    def __init__(self, args):
        self.args = args
        self.client = docker.from_env(timeout=300)
        self.state = Path(tempfile.mkdtemp(prefix="labs-bench-state-"))
        self.env = {**os.environ, "LABS_STATE_DIR": str(self.state), "NO_COLOR": "1", "COLUMNS": "120", "PYTHONWARNINGS": "ignore"}
        self.profile_dir = RESULTS / "profiles" if args.profile else None
        self.lab = None
        self.template: dict = {}  # image and caps per service, from the warm-up `labs start`

    def load_lab(self):
        if self.lab is None:
            from orchestrator.catalog import Catalog

            self.lab = Catalog.from_env().get(LAB_ID)
        return self.lab

    def repeat(self, default_full: int, default_quick: int) -> int:
        if self.args.repeat:
            return self.args.repeat
        return default_quick if self.args.quick else default_full


def run(env: Env, argv: list[str], ok=(0,), timeout: float = 900) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``argv`` as a fresh process; its wall time, or BenchError with the tail of its output."""
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env.env, cwd=REPO, timeout=timeout, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if ok is not None and proc.returncode not in ok:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise BenchError(f"`{shown(argv)}` exited {proc.returncode}:\n{tail}")
    return seconds, proc


def shown(argv: list[str]) -> str:
    replace = {LABS: "labs", PYTHON: "python", PYTEST: "pytest"}
    return " ".join(replace.get(a, a) for a in argv)


def labs_argv(*args: str) -> list[str]:
    return [LABS, *args]


def profile(env: Env, name: str, args: list[str], ok=(0,)) -> None:
    """With --profile: run the labs command once more under cProfile and save the top of it."""
    if env.profile_dir is None:
        return
    env.profile_dir.mkdir(parents=True, exist_ok=True)
    out = env.profile_dir / f"{name}.prof"
    try:
        run(env, [PYTHON, "-m", "cProfile", "-o", str(out), "-m", "orchestrator", *args], ok=ok)
        import io
        import pstats

        text = io.StringIO()
        pstats.Stats(str(out), stream=text).sort_stats("cumulative").print_stats(40)
        (env.profile_dir / f"{name}.txt").write_text(text.getvalue())
        say(f"profile of `labs {' '.join(args)}` saved in {out.with_suffix('.txt').relative_to(REPO)}")
    except Exception as err:  # noqa: BLE001 - a profile is a bonus
        say(f"profiling `labs {' '.join(args)}` failed: {err}")


def alternate(env: Env, label: str, n: int, labs_step, raw_step, between=None) -> tuple[list[float], list[float]]:
    """Time ``labs_step`` and ``raw_step`` alternately ``n`` times each (the order flips every round)."""
    labs_times, raw_times = [], []
    for i in range(n):
        order = [("labs", labs_step, labs_times), ("raw", raw_step, raw_times)]
        if i % 2:
            order.reverse()
        for side, step, times in order:
            seconds = step(i)
            times.append(seconds)
            say(f"{label}: {side} {len(times)}/{n}: {seconds:.3f} s")
            if between:
                between(side, i)
    return labs_times, raw_times


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# --------------------------------------------------------------------------- instances


def instance_name(suffix: str) -> str:
    name = f"{PREFIX}-{suffix}"
    from orchestrator.engine.instances import check_instance_name

    return check_instance_name(name)


def key_of(name: str) -> str:
    return f"{LAB_ID}.{name}"


def remove_instance(client, key: str) -> int:
    """Remove everything labelled with this instance key (ours only: keys carry this run's prefix)."""
    if not key.startswith(f"{LAB_ID}.{PREFIX}-"):
        raise RuntimeError(f"refusing to remove {key}: not created by this bench run")
    selector = {"label": [f"io.labs.instance={key}"]}
    removed = 0
    for container in client.containers.list(all=True, filters=selector):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)
            removed += 1
    for network in client.networks.list(filters=selector):
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()
            removed += 1
    for volume in client.volumes.list(filters=selector):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)
            removed += 1
    return removed


def cleanup_all(client) -> None:
    for key in sorted(CREATED):
        try:
            if remove_instance(client, key):
                say(f"cleanup: removed {key}")
        except Exception as err:  # noqa: BLE001 - keep cleaning the others
            say(f"cleanup of {key} failed: {err}")
    CREATED.clear()


def labs_start(env: Env, name: str) -> float:
    CREATED.add(key_of(name))
    seconds, _ = run(env, labs_argv("start", LAB_ID, "--instance", name))
    return seconds


def running_instance_containers(client, key: str) -> list:
    return client.containers.list(filters={"label": [f"io.labs.instance={key}"], "status": "running"})


# The break of nginx-misconfig as plain file copies (what labs/nginx-misconfig/break.py does with
# pyinfra). It is read from break.py itself when that uses only literal files.directory/put/link and
# server.shell calls (the common case), so an edit of break.py moves the floor with it; otherwise
# the hand-written copy below is used. The warm-up compares the proxy's files and processes after
# both starts, so any drift is reported in the figure's note.
def _break_equivalent(lab) -> list[dict]:
    try:
        return [_break_from_source(lab)]
    except Exception as err:  # noqa: BLE001 - fall back to the hand-written equivalent
        say(f"start: cannot read the break from {lab.prepare} ({err}); using the hand-written equivalent")
    files = lab.folder / "files"
    return [{
        "service": "proxy",
        "dirs": [["/srv/orders/static", "755"]],
        "files": [
            [str(files / "app.css"), "/srv/orders/static/app.css", "644"],
            [str(files / "orders-proxy-broken.conf"), "/etc/nginx/snippets/orders-proxy.conf", "644"],
            [str(files / "orders-broken.conf"), "/etc/nginx/sites-available/orders", "644"],
        ],
        "links": [["/etc/nginx/sites-enabled/orders", "/etc/nginx/sites-available/orders"]],
        "shell": ["nginx -s stop 2>/dev/null; nginx -t 2>/dev/null && nginx; true"],
    }]


def _break_from_source(lab) -> dict:
    """The operations of a simple break.py (one ``if host.data.service == "X":`` block) as data."""
    import ast

    path = lab.path(lab.prepare)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    blocks = [n for n in tree.body if isinstance(n, ast.If)]
    if len(blocks) != 1:
        raise ValueError("not a single `if host.data.service == ...` block")
    test = blocks[0].test
    if not (isinstance(test, ast.Compare) and isinstance(test.comparators[0], ast.Constant)):
        raise ValueError("unexpected condition")
    spec = {"service": test.comparators[0].value, "dirs": [], "files": [], "links": [], "shell": []}

    def literal(node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List):
            return [literal(e) for e in node.elts]
        # str(FILES / "name") with FILES = Path(__file__).parent / "files"
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "str" and isinstance(node.args[0], ast.BinOp):
            binop = node.args[0]
            if getattr(binop.left, "id", None) == "FILES" and isinstance(binop.right, ast.Constant):
                return str(lab.folder / "files" / binop.right.value)
        raise ValueError(f"non-literal argument at line {node.lineno}")

    for stmt in blocks[0].body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            raise ValueError(f"unsupported statement at line {stmt.lineno}")
        op = f"{getattr(call.func.value, 'id', '?')}.{call.func.attr}"
        kw = {k.arg: literal(k.value) for k in call.keywords if k.arg and not k.arg.startswith("_") and k.arg != "name"}
        if op == "files.directory" and set(kw) <= {"path", "mode"}:
            spec["dirs"].append([kw["path"], str(kw.get("mode", "755"))])
        elif op == "files.put" and set(kw) <= {"src", "dest", "mode"}:
            spec["files"].append([kw["src"], kw["dest"], str(kw.get("mode", "644"))])
        elif op == "files.link" and set(kw) <= {"path", "target"}:
            spec["links"].append([kw["path"], kw["target"]])
        elif op == "server.shell" and set(kw) <= {"commands"}:
            commands = kw["commands"]
            spec["shell"] += [commands] if isinstance(commands, str) else commands
        else:
            raise ValueError(f"unsupported operation {op}({', '.join(kw)}) at line {stmt.lineno}")
    return spec


BREAK_FINGERPRINT = (
    "cd / && sha256sum srv/orders/static/app.css etc/nginx/snippets/orders-proxy.conf etc/nginx/sites-available/orders;"
    " stat -c '%n %a %U' srv/orders/static srv/orders/static/app.css etc/nginx/snippets/orders-proxy.conf etc/nginx/sites-available/orders;"
    " readlink etc/nginx/sites-enabled/orders; nginx -t >/dev/null 2>&1 && echo config-ok || echo config-bad;"
    " pgrep -x nginx >/dev/null && echo nginx-up || echo nginx-down"
)


def labs_template(env: Env, key: str) -> dict:
    """Image and capabilities of each service of an instance `labs start` created."""
    template = {}
    for container in running_instance_containers(env.client, key):
        attrs = container.attrs
        template[container.labels.get("io.labs.service")] = {
            "image": attrs["Config"]["Image"],
            "caps": sorted(attrs["HostConfig"].get("CapAdd") or []),
        }
    for network in env.client.networks.list(filters={"label": [f"io.labs.instance={key}"]}):
        network.reload()
        template["__network__"] = {"internal": bool(network.attrs.get("Internal")), "options": network.attrs.get("Options") or {}}
    return template


def raw_plan(env: Env, name: str) -> dict:
    """The exact resources `labs start` creates for ``name``, for bench/raw_start.py.

    Image tags come from ``orchestrator.engine.images.image_tag``; capabilities from the
    containers of the warm-up `labs start` (``env.template``), which also wins when
    the two disagree (the orchestrator may be changing under us).
    """
    from orchestrator.engine.images import image_tag

    lab = env.load_lab()
    key = key_of(name)
    prefix = f"labs-{LAB_ID}-{name}"
    values = {"nonce": secrets.token_urlsafe(12)[:16]}
    common = {"io.labs.managed": "true", "io.labs.version": LABS_VERSION, "io.labs.lab": LAB_ID, "io.labs.instance": key, "io.labs.folder": str(lab.folder)}
    services = []
    template = env.template
    for svc_name, svc in lab.services.items():
        seen = template.get(svc_name, {})
        try:
            tag = image_tag(svc.image)
        except Exception:  # noqa: BLE001 - its signature may change; the warm-up saw the real one
            tag = seen.get("image")
        if seen.get("image") and seen["image"] != tag:
            say(f"start: image_tag({svc.image!r}) = {tag} but labs used {seen['image']}: using labs' image")
            tag = seen["image"]
        caps = seen.get("caps") or sorted({"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE", *svc.cap_add})
        services.append({
            "name": svc_name,
            "container": f"{prefix}-{svc_name}",
            "image": tag,
            "command": svc.command,
            "labels": {**common, "io.labs.service": svc_name, "io.labs.main": "true" if svc_name == lab.main_service else "false"},
            "env": {k: v.replace("${nonce}", values["nonce"]) for k, v in svc.env.items()},
            "ports": {f"{p.container}/tcp": ["127.0.0.1"] for p in svc.ports},
            "mem": svc.limits.memory_bytes,
            "nano_cpus": int(svc.limits.cpus * 1e9),
            "pids": svc.limits.pids,
            "caps": caps,
            "ready": svc.readiness.command,
            "ready_timeout": svc.readiness.timeout,
        })
    return {
        "network": prefix,
        "network_options": template.get("__network__", {}),  # as labs made it (internal, no masquerading)
        "network_labels": {**common, "io.labs.main": lab.main_service, "io.labs.values": json.dumps(values), "io.labs.services": ",".join(lab.services)},
        "services": services,
        "breaks": _break_equivalent(lab),
    }


def raw_start(env: Env, name: str) -> float:
    plan = env.state / f"plan-{name}.json"
    plan.write_text(json.dumps(raw_plan(env, name)))
    CREATED.add(key_of(name))
    seconds, _ = run(env, [PYTHON, str(BENCH / "raw_start.py"), str(plan)])
    return seconds


def fingerprint(env: Env, key: str) -> str:
    for container in running_instance_containers(env.client, key):
        if container.labels.get("io.labs.service") == "proxy":
            return container.exec_run(["sh", "-c", BREAK_FINGERPRINT]).output.decode(errors="replace")
    return "(no proxy running)"


# --------------------------------------------------------------------------- figures


def fig_cli(env: Env) -> list[Row]:
    n = env.repeat(20, 5)
    floor = [PYTHON, "-c", "import typer"]
    rows = []
    for figure, args, goal in (("labs --help", ["--help"], 1.5), ("labs list", ["list"], 2.0)):
        row = Row(figure, "cli", "s", Goal("ratio_max", goal), labs_cmd=f"labs {' '.join(args)}", raw_cmd='python -c "import typer"')
        rows.append(row)
        try:
            run(env, labs_argv(*args))  # warm-up: bytecode, page cache
            run(env, floor)
            row.labs_samples, row.raw_samples = alternate(
                env, figure, n, lambda i: run(env, labs_argv(*args))[0], lambda i: run(env, floor)[0]
            )
            profile(env, f"cli-{args[0].strip('-')}", args)
        except Exception as err:  # noqa: BLE001
            row.error = describe(err)
    return rows


def fig_start(env: Env) -> list[Row]:
    n = env.repeat(5, 2)
    row = Row("labs start (warm, 2 services)", "start", "s", Goal("ratio_max", 1.3),
              labs_cmd=f"labs start {LAB_ID} --instance {PREFIX}-sN",
              raw_cmd="python bench/raw_start.py (SDK network+containers, same readiness probes, break as put_archive+exec)")
    try:
        # Warm-up (untimed): builds the images if their context changed, warms caches, and checks
        # that the raw break leaves the proxy exactly as break.py does.
        warm_labs, warm_raw = instance_name("sw1"), instance_name("sw2")
        say("start: warm-up (builds images if missing)")
        CREATED.add(key_of(warm_labs))
        run(env, labs_argv("start", LAB_ID, "--instance", warm_labs), timeout=1800)
        env.template = labs_template(env, key_of(warm_labs))
        raw_start(env, warm_raw)
        a, b = fingerprint(env, key_of(warm_labs)), fingerprint(env, key_of(warm_raw))
        if a != b:
            row.note = f"WARNING: the raw break differs from break.py: labs={a!r} raw={b!r}"
            say(row.note)
        else:
            row.note = "raw break verified identical to break.py (files, modes, link, nginx state)"
        try:
            _break_from_source(env.load_lab())
            row.note += "; raw break read from break.py"
        except Exception:  # noqa: BLE001
            row.note += "; raw break: the hand-written equivalent in bench/run.py"
        for name in (warm_labs, warm_raw):
            remove_instance(env.client, key_of(name))

        def labs_step(i):
            name = instance_name(f"s{i}")
            try:
                return labs_start(env, name)
            finally:
                remove_instance(env.client, key_of(name))

        def raw_step(i):
            name = instance_name(f"r{i}")
            try:
                return raw_start(env, name)
            finally:
                remove_instance(env.client, key_of(name))

        row.labs_samples, row.raw_samples = alternate(env, "start", n, labs_step, raw_step)
        if env.profile_dir:
            name = instance_name("sp")
            CREATED.add(key_of(name))
            profile(env, "start", ["start", LAB_ID, "--instance", name])
            remove_instance(env.client, key_of(name))
    except Exception as err:  # noqa: BLE001
        row.error = describe(err)
    return [row]


def _passed_counts(labs_json: str, pytest_out: str) -> str:
    try:
        report = json.loads(labs_json)
        labs_side = f"{sum(o['passed'] for o in report['objectives'])}/{len(report['objectives'])} pass"
    except (ValueError, KeyError, TypeError):
        labs_side = "?"
    match = re.search(r"\d+ (?:failed|passed|errors?|skipped)(?:, \d+ (?:failed|passed|errors?|skipped))* in [\d.]+s", pytest_out)
    return f"verdicts: labs {labs_side}; raw pytest: {match.group(0) if match else '?'}"


def fig_check(env: Env) -> list[Row]:
    n = env.repeat(5, 2)
    name = instance_name("chk")
    key = key_of(name)
    raw = [PYTEST, "-p", "checks.plugin", "--labs-instance", key, "--labs-backend", "cli", f"labs/{LAB_ID}/test_objectives.py"]
    row = Row("labs check (broken instance)", "check", "s", Goal("ratio_max", 0.7), labs_cmd=f"labs check {LAB_ID} --instance {name}", raw_cmd=shown(raw))
    try:
        say("check: starting the instance to check (untimed)")
        labs_start(env, name)
        # Warm-up, and both sides must see the same verdicts (exit 1: objectives fail, as they should).
        _, labs_proc = run(env, labs_argv("check", LAB_ID, "--instance", name, "--json"), ok=(0, 1))
        _, raw_proc = run(env, raw, ok=(0, 1))
        row.note = _passed_counts(labs_proc.stdout, raw_proc.stdout)
        row.labs_samples, row.raw_samples = alternate(
            env, "check", n,
            lambda i: run(env, labs_argv("check", LAB_ID, "--instance", name), ok=(0, 1))[0],
            lambda i: run(env, raw, ok=(0, 1))[0],
        )
        profile(env, "check", ["check", LAB_ID, "--instance", name], ok=(0, 1))
    except Exception as err:  # noqa: BLE001
        row.error = describe(err)
    finally:
        remove_instance(env.client, key)
    return [row]


def fig_reset(env: Env) -> list[Row]:
    n = env.repeat(5, 2)
    name = instance_name("rst")
    key = key_of(name)
    row = Row("labs reset", "reset", "s", Goal("abs_max_and_faster", 3.0, "s"),
              labs_cmd=f"labs reset {LAB_ID} --instance {name}", raw_cmd="labs stop + labs start (same instance)")
    try:
        say("reset: starting the instance to reset (untimed)")
        labs_start(env, name)

        def stop_start(i):
            stop, _ = run(env, labs_argv("stop", LAB_ID, "--instance", name))
            start, _ = run(env, labs_argv("start", LAB_ID, "--instance", name))
            return stop + start

        row.labs_samples, row.raw_samples = alternate(
            env, "reset", n, lambda i: run(env, labs_argv("reset", LAB_ID, "--instance", name))[0], stop_start
        )
        profile(env, "reset", ["reset", LAB_ID, "--instance", name])
    except Exception as err:  # noqa: BLE001
        row.error = describe(err)
    finally:
        remove_instance(env.client, key)
    return [row]


def fig_validate(env: Env) -> list[Row]:
    n = env.repeat(3, 1)
    row = Row("labs validate --all --jobs 2", "validate", "s", Goal("ratio_max", 0.6),
              labs_cmd="labs validate --all --jobs 2", raw_cmd="labs validate --all --jobs 1")
    try:
        _, proc = run(env, labs_argv("validate", "--help"), ok=None)
        if proc.returncode != 0 or "--jobs" not in proc.stdout or "--all" not in proc.stdout:
            row.verdict = "not available"
            row.note = "`labs validate --all --jobs N` does not exist yet" if proc.returncode else "`labs validate` has no --all/--jobs yet"
            say(f"validate: {row.note}")
            return [row]
        per_lab: dict[str, list[float]] = {}

        def serial(i):
            seconds, proc = run(env, labs_argv("validate", "--all", "--jobs", "1", "--json"), timeout=3600)
            with contextlib.suppress(ValueError, KeyError, TypeError):
                for lab in json.loads(proc.stdout)["labs"]:
                    per_lab.setdefault(lab["lab"], []).append(lab["seconds"])
            return seconds

        row.labs_samples, row.raw_samples = alternate(
            env, "validate", n,
            lambda i: run(env, labs_argv("validate", "--all", "--jobs", "2", "--json"), timeout=3600)[0],
            serial,
        )
        if per_lab:
            medians = {lab: statistics.median(v) for lab, v in per_lab.items()}
            longest = max(medians.values())
            row.note = ("per lab with --jobs 1: " + ", ".join(f"{lab} {sec:.0f} s" for lab, sec in medians.items())
                        + f"; with 2 jobs no run can beat the longest lab: best possible ratio ≈ {longest / statistics.median(row.raw_samples):.2f}×")
    except Exception as err:  # noqa: BLE001
        row.error = describe(err)
    return [row]


def fig_build(env: Env) -> list[Row]:
    """Cold build of every image, the offline base included, under temporary tags removed afterwards."""
    from orchestrator.engine.images import build_debian_base, images_dir

    row = Row("cold build (debootstrap base + every image, nocache)", "build", "s", Goal("abs_max", 180.0, "s"),
              labs_cmd="build_debian_base + docker build --no-cache of images/*", raw_cmd="")
    base = f"labs-bench/debian:cold-{RUN_ID}"
    tags: list[str] = []
    spans: dict[str, float] = {}
    try:
        started = time.perf_counter()
        say(f"build: debootstrap + import of the base as {base}")
        build_debian_base(env.client, base, "bookworm", progress=lambda text: say(f"build: {text}"))
        spans["base"] = time.perf_counter() - started
        tags.append(base)
        say(f"build: base took {spans['base']:.1f} s")
        contexts = sorted(p for p in images_dir().iterdir() if (p / "Dockerfile").is_file())
        for context in contexts:
            tag = f"labs-bench/{context.name}:cold-{RUN_ID}"
            with tempfile.TemporaryDirectory(prefix="labs-bench-ctx-") as tmp:
                copy = Path(tmp) / context.name
                shutil.copytree(context, copy, symlinks=True)
                dockerfile = copy / "Dockerfile"
                text, count = re.subn(r"^(\s*FROM\s+)debian:bookworm(-slim)?\b", rf"\g<1>{base}", dockerfile.read_text(), count=1, flags=re.MULTILINE | re.IGNORECASE)
                if not count:
                    raise BenchError(f"{context}/Dockerfile is not FROM debian:bookworm; cannot build it on the cold base")
                dockerfile.write_text(text)
                say(f"build: {context.name} (nocache) as {tag}")
                t0 = time.perf_counter()
                tags.append(tag)
                for chunk in env.client.api.build(path=str(copy), tag=tag, rm=True, forcerm=True, pull=False, nocache=True, decode=True,
                                                  labels={"io.labs.bench": RUN_ID}):
                    if "error" in chunk:
                        raise BenchError(f"building {context.name}: {chunk['error']}")
                    line = chunk.get("stream", "").strip()
                    if line.startswith("Step "):
                        say(f"build: {context.name}: {line[:100]}")
                spans[context.name] = time.perf_counter() - t0
                say(f"build: {context.name} took {spans[context.name]:.1f} s")
        total = time.perf_counter() - started
        row.labs_samples = [total]
        row.note = "spans: " + ", ".join(f"{k} {v:.1f} s" for k, v in spans.items()) + " (sequential, as labs builds)"
    except Exception as err:  # noqa: BLE001
        row.error = describe(err)
    finally:
        for tag in reversed(tags):
            try:
                env.client.images.remove(tag, noprune=False)
                say(f"build: removed {tag}")
            except docker.errors.ImageNotFound:
                pass
            except Exception as err:  # noqa: BLE001
                say(f"build: could not remove {tag}: {err}")
    return [row]


def _memory_without_cache(stats: dict) -> float:
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage", 0)
    inner = mem.get("stats") or {}
    cache = inner.get("cache", inner.get("inactive_file", inner.get("total_inactive_file", 0)))
    return max(0, usage - cache)


def _meminfo(field_name: str) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    return None


def fig_capacity(env: Env) -> list[Row]:
    target = env.args.instances or (5 if env.args.quick else 20)
    count_row = Row(f"{LAB_ID} instances up at once (tried {target})", "capacity", "count", Goal("min_count", 20.0), labs_cmd=f"labs start {LAB_ID} --instance {PREFIX}-cN")
    mem_row = Row("memory per instance (usage − cache, engine stats)", "capacity", "MB", Goal("abs_max", 60.0, "MB"))
    names = [instance_name(f"c{i}") for i in range(1, target + 1)]
    try:
        available_before = _meminfo("MemAvailable")
        start_times, failures, consecutive = [], [], 0
        for i, name in enumerate(names, 1):
            try:
                start_times.append(labs_start(env, name))
                say(f"capacity: instance {i}/{target} up in {start_times[-1]:.2f} s")
                consecutive = 0
            except BenchError as err:
                failures.append(str(err).splitlines()[0])
                consecutive += 1
                say(f"capacity: instance {i}/{target} failed: {err}")
                if consecutive >= 3:
                    say("capacity: three starts failed in a row; stopping here")
                    break
        time.sleep(3)  # let anything that is going to die, die
        up, stats_per_instance = 0, []
        for name in names:
            containers = running_instance_containers(env.client, key_of(name))
            if len(containers) == len(env.load_lab().services):
                up += 1
                stats_per_instance.append(containers)
        from concurrent.futures import ThreadPoolExecutor

        def instance_memory(containers):
            return sum(_memory_without_cache(c.stats(stream=False, one_shot=True)) for c in containers) / 1e6

        with ThreadPoolExecutor(max_workers=8) as pool:
            per_instance = list(pool.map(instance_memory, stats_per_instance))
        available_after = _meminfo("MemAvailable")
        solved_note = ""
        if stats_per_instance:
            # The broken state has nginx down; a solved instance runs it: measure one of those too.
            with contextlib.suppress(BenchError):
                run(env, labs_argv("solve", LAB_ID, "--instance", names[0]))
                time.sleep(1)
                solved_note = f"; a solved instance (nginx up): {instance_memory(running_instance_containers(env.client, key_of(names[0]))):.1f} MB"
        count_row.labs = float(up)
        count_row.labs_samples = [float(up)]
        count_row.note = f"median start while filling: {median(start_times) or 0:.2f} s (last: {start_times[-1] if start_times else 0:.2f} s)"
        if failures:
            count_row.note += f"; {len(failures)} start(s) failed, first: {failures[0]}"
        if target < 20:
            count_row.goal = None
            count_row.verdict = f"n/a (only {target} tried)"
        mem_row.labs_samples = per_instance
        mem_row.labs = median(per_instance)
        mem_row.note = f"max {max(per_instance):.1f} MB over {len(per_instance)} instances (broken state: nginx down){solved_note}" if per_instance else ""
        if available_before and available_after and up:
            mem_row.note += f"; host MemAvailable dropped {(available_before - available_after) / 1e6 / up:.1f} MB per instance"
    except Exception as err:  # noqa: BLE001
        count_row.error = describe(err)
        mem_row.error = count_row.error
    finally:
        say(f"capacity: removing {len(names)} instances")
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda n: remove_instance(env.client, key_of(n)), names))
    return [count_row, mem_row]


FIGURES = {
    "cli": fig_cli,
    "start": fig_start,
    "check": fig_check,
    "reset": fig_reset,
    "validate": fig_validate,
    "build": fig_build,
    "capacity": fig_capacity,
}
FULL_ONLY = {"build"}


def describe(err: BaseException) -> str:
    if isinstance(err, BenchError):
        return str(err)
    return f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=4)}"


# --------------------------------------------------------------------------- machine info and main


def machine_info(client) -> dict:
    version = client.version()
    info = client.info()
    py = subprocess.run([PYTHON, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "memory_gb": round((_meminfo("MemTotal") or 0) / 1024**3, 1),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "docker_version": version.get("Version"),
        "docker_api": version.get("ApiVersion"),
        "storage_driver": info.get("Driver"),
        "cgroup": f"v{info.get('CgroupVersion', '?')} ({info.get('CgroupDriver', '?')})",
        "python": py,
        "labs_version": LABS_VERSION,
        "git": head + (" (dirty)" if dirty else ""),
        "loadavg_start": list(os.getloadavg()),
        "other_containers_running": len(client.containers.list()),
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _load(machine: dict, key: str) -> str:
    values = machine.get(key) or []
    return f"{values[0]:.1f}" if values else "?"


def _busy(machine: dict) -> bool:
    cores = machine.get("cores") or 1
    return any((machine.get(k) or [0])[0] > cores for k in ("loadavg_start", "loadavg_end"))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, no cold build, 5 instances for capacity")
    parser.add_argument("--repeat", type=int, help="repetitions per side for every timed figure")
    parser.add_argument("--only", action="append", help=f"run only these figures (comma-separated, repeatable): {', '.join(FIGURES)}")
    parser.add_argument("--instances", type=int, help="how many instances the capacity figure starts (default 20; --quick 5)")
    parser.add_argument("--json", type=Path, help="write the results here (default: bench/results/latest.json for a full run, else a dated file)")
    parser.add_argument("--md", type=Path, help="write the table as Markdown here (default: next to the JSON)")
    parser.add_argument("--profile", action="store_true", help="also cProfile the labs side once per figure (bench/results/profiles/)")
    args = parser.parse_args(argv)
    if args.only:
        wanted = [name.strip() for chunk in args.only for name in chunk.split(",") if name.strip()]
        unknown = [n for n in wanted if n not in FIGURES]
        if unknown:
            parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
        args.only = wanted
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    full = not args.quick and not args.only
    selected = args.only or [n for n in FIGURES if not (args.quick and n in FULL_ONLY)]
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    json_path = args.json or (RESULTS / ("latest.json" if full else f"run-{stamp}.json"))
    md_path = args.md or json_path.with_suffix(".md")

    env = Env(args)
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        say(f"warning: load average {load:.1f} on {os.cpu_count()} cores: other work will inflate the timings")
    say(f"run {RUN_ID}: figures {', '.join(selected)}; instances named {PREFIX}-*; labs={LABS}")
    started = time.perf_counter()
    rows: list[Row] = []
    interrupted = False
    try:
        machine = machine_info(env.client)
    except Exception as err:  # noqa: BLE001
        machine = {"error": describe(err), "cores": os.cpu_count(), "memory_gb": "?", "docker_version": "?", "python": "?", "cpu": "?",
                   "storage_driver": "?", "cgroup": "?", "labs_version": LABS_VERSION, "git": "?"}
    try:
        for name in selected:
            say(f"--- {name}")
            t0 = time.perf_counter()
            try:
                new = FIGURES[name](env)
            except Exception as err:  # noqa: BLE001 - a broken figure must not stop the run
                new = [Row(name, name, "s", None, error=describe(err))]
            for row in new:
                row.judge()
                if row.error:
                    say(f"{row.figure}: ERROR {row.error}")
            rows += new
            say(f"--- {name} done in {time.perf_counter() - t0:.0f} s")
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: cleaning up")
    finally:
        cleanup_all(env.client)
        shutil.rmtree(env.state, ignore_errors=True)

    total = time.perf_counter() - started
    machine["loadavg_end"] = list(os.getloadavg())
    result = {
        "schema": 1,
        "run_id": RUN_ID,
        "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "mode": "full" if full else ("quick" if args.quick else "partial"),
        "figures_run": selected,
        "repeat": args.repeat,
        "interrupted": interrupted,
        "seconds": round(total, 1),
        "machine": machine,
        "figures": [r.to_dict() for r in rows],
    }
    table = text_table(rows)
    print(table)
    print(f"\n{len(rows)} figure(s) in {total:.0f} s on {machine['cores']} cores, {machine['memory_gb']} GB, Docker {machine['docker_version']}, Python {machine['python']};"
          f" load average {_load(machine, 'loadavg_start')} → {_load(machine, 'loadavg_end')}")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    md = [
        f"Measured {result['started']} ({result['mode']} run, {total:.0f} s) on {machine['cores']} cores / {machine['memory_gb']} GB ({machine['cpu']}),",
        f"Docker {machine['docker_version']} ({machine['storage_driver']}, cgroup {machine['cgroup']}), Python {machine['python']}, labs {machine['labs_version']} at {machine['git']}.",
        f"Load average at start/end: {_load(machine, 'loadavg_start')} / {_load(machine, 'loadavg_end')} on {machine['cores']} cores"
        + (" (the machine was busy with other work: absolute times are inflated, ratios less so)." if _busy(machine) else "."),
        "Medians of alternating runs; ratio = labs / raw floor. Reproduce with `python bench/run.py`.",
        "",
        markdown_table(rows),
        "",
    ]
    notes = [f"- **{r.figure}**: {r.note}" for r in rows if r.note]
    if notes:
        md += ["Notes:", "", *notes, ""]
    md_path.write_text("\n".join(md))
    say(f"results: {json_path.relative_to(REPO) if json_path.is_relative_to(REPO) else json_path}, {md_path.name}")
    if interrupted:
        return 130
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
