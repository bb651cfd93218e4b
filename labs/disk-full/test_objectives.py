"""Objectives for disk-full: uploads work, the space is back, rotation will keep it back.

Uploads go through the service's published port; the disk and the open files are seen by a
pristine probe in the container's pid namespace (it reads each process's open files with
that process's own uid, and the disk through /proc/PID/root); rotation is proven by running
a pristine logrotate on a copy of the learner's configuration, forced, in debug mode.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time

import checks

SERVICE, PORT = "files", 8000
DATA, LOG = "/srv/data", "/srv/data/log/uploads.log"
UPLOAD_BYTES = 3 * 1024 * 1024

# Runs in the probe image, in the service's pid namespace: every process (name, uid), the
# deleted files on the data disk each one holds open, the files it follows, and the disk's
# size. A process's open files are read as its own uid (a probe has no CAP_SYS_PTRACE).
OPEN_FILES = r"""
import json, os
data = os.environ["DATA"]
procs = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            args = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        continue
    if int(pid) != os.getpid() and args:
        procs.append({"pid": int(pid), "uid": uid, "args": args})
disk = None
for proc in procs:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        answer = {"open": [], "deleted": []}
        try:
            if proc["uid"] != 0:
                os.setgroups([]); os.setgid(proc["uid"]); os.setuid(proc["uid"])
            fds = f"/proc/{proc['pid']}/fd"
            for fd in os.listdir(fds):
                try:
                    target = os.readlink(f"{fds}/{fd}")
                except OSError:
                    continue
                if target.startswith(data + "/"):
                    if target.endswith(" (deleted)"):
                        answer["deleted"].append([target[:-10], os.stat(f"{fds}/{fd}").st_size])
                    else:
                        answer["open"].append(target)
            st = os.statvfs(f"/proc/{proc['pid']}/root{data}")
            answer["disk"] = [st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize]
        except OSError as err:
            answer["error"] = str(err)
        os.write(write, json.dumps(answer).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while True:
        chunk = os.read(read, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read)
    os.waitpid(child, 0)
    proc.update(json.loads(b"".join(chunks) or b"{}"))
    disk = disk or proc.get("disk")
print(json.dumps({"procs": procs, "disk": disk}))
"""


def _earlier(lab) -> list[str]:
    return [f"invoice-{lab.nonce[:6]}-{n}.pdf" for n in (1, 2, 3)]


def _host_view(lab) -> dict:
    result = lab.probe(["python3", "-c", OPEN_FILES], image="probe", service=SERVICE, pid=True, env={"DATA": DATA}, timeout=30)
    assert result.exit_code == 0, f"the process probe failed: {result.output[-300:]}"
    return json.loads(result.stdout)


def _mb(size: float) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _upload_problem(lab) -> str | None:
    _wait_for_service(lab)
    name = "check-upload.bin"  # the same name each time: checks must not fill the disk themselves
    body = (lab.trace_id() + "\n").encode() * (UPLOAD_BYTES // 28)
    resp = lab.http(SERVICE, PORT, f"/upload?name={name}", method="POST", body=body, timeout=30)
    if resp.status != 201:
        return f"POST /upload of a {_mb(len(body))} file got {resp.describe()} — look at the service's log and at the disk it writes to ({DATA})"
    fetched = lab.probe(["sh", "-c", f"curl -fsS --max-time 20 http://{SERVICE}:{PORT}/files/{name} | sha256sum"], image="probe", timeout=30)
    if fetched.stdout.split()[:1] != [hashlib.sha256(body).hexdigest()]:
        return f"the upload answered 201, but GET /files/{name} from another host on the network did not return the bytes sent ({fetched.output.strip()[:120]})"
    return None


def _space_problems(view: dict) -> list[str]:
    problems = []
    for proc in view["procs"]:
        for path, size in proc.get("deleted", []):
            if size < 1024 * 1024:
                continue  # emptied in place: it holds no space worth naming
            problems.append(f"pid {proc['pid']} ({proc['args'][:60]}) still holds the deleted {path} open ({_mb(size)})")
    if view["disk"]:
        total, free = view["disk"]
        if free < total / 2:
            problems.append(f"{DATA} has only {_mb(free)} free of {_mb(total)}")
    else:
        problems.append(f"the probe could not read the size of {DATA}")
    return problems


def _shipper_problem(view: dict) -> str | None:
    shippers = [p for p in view["procs"] if "shipper.py" in p["args"] and not p["args"].startswith(("runsv", "chpst"))]
    if not shippers:
        return "no log shipper process runs: log shipping must keep working — look at `sv status /etc/service/shipper`"
    if not any(path == LOG for proc in shippers for path in proc.get("open", [])):
        return f"the log shipper runs but does not follow {LOG}"
    return None


def _cron_runs(view: dict) -> bool:
    return any(p["args"].split()[0].rsplit("/", 1)[-1] == "cron" for p in view["procs"] if p["args"].split())


def _settled_host_view(lab) -> dict:
    """The host view; when cron is enabled under runit (an entry in /etc/service names it) but
    does not run yet, look again for a few seconds: runit starts a service enabled a moment ago
    at its next scan of /etc/service (every 5 s), and a check right after the fix must not
    reject it."""
    view = _host_view(lab)
    if _cron_runs(view) or not any("cron" in (e.path + (e.link_target or "")) for e in lab.walk(SERVICE, "/etc/service")[1:]):
        return view
    return checks.poll(lambda: _host_view(lab), _cron_runs, seconds=12, interval=1)


def _schedule_problems(lab, view: dict) -> list[str]:
    problems = []
    if not _cron_runs(view):
        problems.append("no cron daemon runs, so nothing scheduled ever runs logrotate — look at what starts services here (/etc/service)")
    sources = [lab.read_file(SERVICE, "/etc/crontab")] + lab.walk(SERVICE, "/etc/cron.d") + lab.walk(SERVICE, "/etc/cron.daily") + lab.walk(SERVICE, "/etc/cron.hourly")
    if not any(s is not None and s.kind == "file" and b"logrotate" in (s.content or b"") for s in sources):
        problems.append("no cron job or cron.daily/cron.hourly script runs logrotate")
    return problems


def _rotation_problem(lab) -> str | None:
    script = (
        "set -e; mkdir -p /srv/data/log; head -c 600000 /dev/zero | tr '\\0' 'x' > /srv/data/log/uploads.log; "
        "chown uploads:uploads /srv/data/log/uploads.log 2>/dev/null || true; "
        "logrotate -d -f -s /tmp/logrotate.state /etc/logrotate.conf 2>&1"
    )
    result = lab.probe(
        ["sh", "-c", script],
        service=SERVICE,
        copy={"/etc/logrotate.conf": f"{SERVICE}:/etc/logrotate.conf", "/etc/logrotate.d": f"{SERVICE}:/etc/logrotate.d", "/etc/passwd": f"{SERVICE}:/etc/passwd", "/etc/group": f"{SERVICE}:/etc/group"},
        timeout=30,
    )
    out = result.output
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    if errors:
        return f"logrotate (forced, debug mode, on a copy of your configuration) reports: {errors[0][:200]}"
    sections = re.split(r"\nrotating pattern: ", "\n" + out)
    for section in sections:
        if f"considering log {LOG}\n" not in section + "\n":
            continue
        if "log needs rotating" not in section:
            return f"logrotate considers {LOG} but would not rotate it even when forced"
        if f"truncating {LOG}" in section:
            return None
        if "running postrotate script" in section:
            scripts = re.findall(r"postrotate\s*\n(.*?)\n\s*endscript", "\n".join(_rotate_configs(lab)), re.S)
            if any(re.search(r"hup|restart|reload|kill|sv\s", s, re.I) for s in scripts):
                return None
            return "logrotate renames the log and runs a postrotate script that does not make the service reopen its log"
        return (f"logrotate renames {LOG} and creates a new one, but the service keeps writing to the renamed file "
                "(nothing makes it reopen its log): the next rotations would fill the disk with a deleted file again")
    return f"no logrotate rule applies to {LOG} (forced, debug mode, on a copy of your configuration) — compare the paths in /etc/logrotate.d with the real log"


def _rotate_configs(lab) -> list[str]:
    texts = []
    for entry in [lab.read_file(SERVICE, "/etc/logrotate.conf")] + lab.walk(SERVICE, "/etc/logrotate.d"):
        if entry is not None and entry.kind == "file" and entry.content:
            texts.append(entry.content.decode("utf-8", "replace"))
    return texts


def _earlier_problems(lab) -> list[str]:
    problems = []
    for name in _earlier(lab):
        resp = lab.http(SERVICE, PORT, f"/files/{name}", timeout=10)
        if resp.status != 200 or lab.nonce not in resp.body:
            problems.append(f"GET /files/{name} got {resp.describe()}")
    return problems


def _wait_for_service(lab) -> None:
    """Give the service a moment to (re)start under runit: a just-restarted service is not a broken one."""
    for _ in range(40):
        if lab.http(SERVICE, PORT, "/healthz").ok:
            return
        time.sleep(0.25)


# --- objectives ---------------------------------------------------------------------------


def test_uploads_work(lab):
    """A 3 MB upload through the service is stored"""
    problem = _upload_problem(lab)
    assert problem is None, problem


def test_space_is_back(lab):
    """The data disk's space is really free again, and the log shipper still ships"""
    view = _host_view(lab)
    problems = _space_problems(view)
    shipper = _shipper_problem(view)
    problems += [shipper] if shipper else []
    assert not problems, " · ".join(problems[:3])


def test_earlier_uploads_kept(lab):
    """Customers' earlier uploads are still there"""
    problems = _earlier_problems(lab)
    assert not problems, " · ".join(problems) + " — uploads must not be deleted to make room"


def test_rotation_will_keep_space_free(lab):
    """The upload log is rotated, on a schedule that runs, into a fresh file the service writes to"""
    problem = _rotation_problem(lab)
    problems = ([problem] if problem else []) + _schedule_problems(lab, _settled_host_view(lab))
    assert not problems, " · ".join(problems)


def test_survives_restart(lab):
    """Uploads, free space, log shipping and the rotation schedule survive a restart of the host"""
    lab.restart_all()
    _wait_for_service(lab)
    problem = _upload_problem(lab)
    view = _host_view(lab)
    problems = ([problem] if problem else []) + _space_problems(view) + _earlier_problems(lab) + _schedule_problems(lab, view)
    shipper = _shipper_problem(view)
    problems += [shipper] if shipper else []
    assert not problems, "after restarting every service: " + " · ".join(problems[:3]) + " (a fix made only in a running process is lost on restart)"
