"""Objectives for upload-413-504: 20 MB uploads and the 40 s monthly report work through
the proxy, with bounded limits, for good.

Every probe goes through the proxy's published port from outside, carries a fresh trace
id and must come back with this instance's nonce, the upload's own checksum and the trace
id; the API's log (the engine's, not a file) must show the request arrived. The
configuration is read with a pristine nginx (`nginx -T` on a copy of the proxy's
/etc/nginx), never by running anything in the learner's containers. The persistence
objective restarts every service and runs before the 40 s report, so the report proves
the fix after a restart and is paid only once.
"""

import functools
import hashlib
import json
import os
import re
import time

UPLOAD_BYTES = 20 * 1024 * 1024 + 4093  # a little over 20 MB: the statements finance sends
BODY_CEILING = 50 * 1024 * 1024  # the security team's ceiling for request bodies
TIMEOUT_CEILING = 300  # seconds: no proxy wait may be longer
TIMEOUT_DIRECTIVES = (
    "proxy_read_timeout", "proxy_send_timeout", "proxy_connect_timeout", "send_timeout",
    "client_body_timeout", "client_header_timeout", "keepalive_timeout",
)
REPORT_SECONDS = 40  # the monthly report's real duration (the app's own measure)
_SIZE = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_TIME = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}


def _size(text: str) -> int | None:
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", text)
    return int(match[1]) * _SIZE[match[2].lower()] if match else None


def _seconds(text: str) -> float | None:
    if re.fullmatch(r"\d+", text):
        return float(text)
    parts = re.findall(r"(\d+)(ms|[smhdwMy])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(n) * _TIME[u] for n, u in parts)


@functools.cache
def _effective_config(lab) -> tuple[str | None, str]:
    """(nginx -T's output, None) from a pristine nginx given the proxy's /etc/nginx, or (None, its complaint)."""
    result = lab.probe(["nginx", "-T"], image="nginx", copy={"/etc/nginx": "proxy:/etc/nginx"}, timeout=30)
    if result.exit_code != 0:
        lines = [line for line in result.stderr.splitlines() if "[emerg]" in line or "[error]" in line] or result.stderr.strip().splitlines() or ["(no output)"]
        return None, re.sub(r"^\S+ \S+ (\[\w+\]) \d+#\d+: ", r"\1 ", lines[0])[:240]
    return result.stdout, ""


def _directives(config: str, names) -> list[tuple[str, str, str]]:
    """(file, directive, value) for every use of the named directives in nginx -T's output."""
    found, current = [], "?"
    for raw in config.splitlines():
        if raw.startswith("# configuration file "):
            current = raw.removeprefix("# configuration file ").rstrip(":")
            continue
        line = raw.split("#", 1)[0]
        for match in re.finditer(r"(?:^|[;{}\s])(" + "|".join(names) + r")\s+([^;{}]*?)\s*;", line):
            found.append((current, match[1], match[2].strip().strip("'\"")))
    return found


def _unbounded_limits(lab) -> list[str]:
    """Limits in the loaded configuration that are unlimited or beyond the ceilings."""
    config, complaint = _effective_config(lab)
    if config is None:
        return [f"a pristine nginx refuses the proxy's configuration: {complaint}"]
    problems = []
    for where, name, value in _directives(config, ("client_max_body_size",)):
        size = _size(value)
        if size is None or size == 0 or size > BODY_CEILING:
            problems.append(f"{name} {value} in {where}" + (" (0 means no limit at all)" if size == 0 else ""))
    for where, name, value in _directives(config, TIMEOUT_DIRECTIVES):
        first = value.split()[0] if value else value
        seconds = _seconds(first)
        if seconds is None or seconds > TIMEOUT_CEILING:
            problems.append(f"{name} {value} in {where}")
    return problems


def _json(resp) -> dict:
    try:
        data = json.loads(resp.body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _who_answered(resp) -> str:
    if resp.headers.get("server", "").startswith("nginx") and "<html>" in resp.body:
        return "nginx itself answered (an nginx error page) — look at /var/log/nginx/reports.error.log and the configuration nginx loads (nginx -T)"
    if _json(resp).get("error"):
        return f"the API answered it ({_json(resp)['error'][:160]}) — look at the API's settings in /etc/report-api/ and `labs logs upload-413-504 app`"
    return "look at /var/log/nginx/reports.error.log in the proxy and `labs logs upload-413-504 app`"


def _arrived(lab, trace: str) -> bool:
    """The API printed the trace id (the engine copies a container's output asynchronously:
    allow it a few seconds to land)."""
    deadline = time.monotonic() + 8
    while trace not in lab.logs("app"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _upload_problem(lab) -> str | None:
    body = os.urandom(UPLOAD_BYTES)
    trace = lab.trace_id()
    resp = lab.http("proxy", 80, "/api/uploads", method="POST", body=body, timeout=60,
                    headers={"Content-Type": "application/octet-stream", "X-Trace-Id": trace})
    if resp.status is None:
        return f"POST of a {UPLOAD_BYTES} byte statement to /api/uploads got {resp.describe()} — is nginx running in the proxy (nginx -t)?"
    if resp.status != 200:
        return f"POST of a {UPLOAD_BYTES} byte statement to /api/uploads got HTTP {resp.status}: {_who_answered(resp)}"
    answer = _json(resp)
    if answer.get("sha256") != hashlib.sha256(body).hexdigest() or answer.get("bytes") != UPLOAD_BYTES:
        return f"the upload answered 200, but the API did not receive the whole file (it saw {answer.get('bytes')} bytes, the probe sent {UPLOAD_BYTES}) — the upload must reach the API intact"
    if answer.get("instance") != lab.nonce or answer.get("trace") != trace or not _arrived(lab, trace):
        return "the upload answered 200, but not from this instance's report-api (wrong instance or trace id, or the API never logged it) — requests must reach the real API"
    return None


def _report_problem(lab, kind: str, timeout: float) -> str | None:
    trace = lab.trace_id()
    resp = lab.http("proxy", 80, f"/api/reports/{kind}", headers={"X-Trace-Id": trace}, timeout=timeout)
    if resp.status is None:
        return f"GET /api/reports/{kind} got {resp.describe()} after {resp.seconds:.0f} s — is nginx running in the proxy?"
    if resp.status != 200:
        return f"GET /api/reports/{kind} got HTTP {resp.status} after {resp.seconds:.0f} s: {_who_answered(resp)}"
    answer = _json(resp)
    if answer.get("instance") != lab.nonce or answer.get("trace") != trace or not _arrived(lab, trace):
        return f"GET /api/reports/{kind} answered 200, but not with this instance's report (wrong instance or trace id, or the API never logged the request) — the report must come from the real API"
    if kind == "monthly" and float(answer.get("seconds") or 0) < REPORT_SECONDS - 5:
        return f"the monthly report came back after {answer.get('seconds')} s: that is not the real 40 s warehouse report — look at the API in the app container"
    return None


def test_app_unmodified(lab):
    """The report API's code and the tools of both containers are as shipped"""
    problems = lab.integrity("app", ["/srv/app"]) + lab.integrity("app") + lab.integrity("proxy")
    assert not problems, f"{problems[0]} — the fix belongs in the configuration, not in the code or the tools (labs reset starts over)"


def test_limits_bounded(lab):
    """Proxy limits stay bounded: bodies at most 50 MB, no wait longer than 5 minutes"""
    problems = _unbounded_limits(lab)
    assert not problems, f"the configuration nginx loads has {'; '.join(problems[:3])} — keep every limit within the ticket's ceilings"


def test_upload_20mb(lab):
    """A 20 MB statement uploads through the proxy and reaches the API intact"""
    problem = _upload_problem(lab)
    assert problem is None, problem


def test_survives_restart(lab):
    """Uploads and reports still work after every service restarts"""
    lab.restart_all()
    problem = _upload_problem(lab) or _report_problem(lab, "daily", timeout=30)
    assert problem is None, f"after restarting every service: {problem} (a fix made only in a running process is lost on restart)"


def test_monthly_report(lab):
    """The 40 s monthly report completes through the proxy"""
    unbounded = _unbounded_limits(lab)
    assert not unbounded, f"the report was not requested: the proxy's limits are not bounded ({unbounded[0]}) — an unlimited wait is not a fix"
    problem = _report_problem(lab, "monthly", timeout=REPORT_SECONDS + 35)
    assert problem is None, problem
