"""Objectives for permission-denied: uploads stored, the publisher serves them, nothing world-open.

Behaviour is probed from outside (a real upload through the upload service's published port,
then a real download through the publisher's), files are read through the engine (owner,
group, mode, ACLs: nothing runs in the learner's container) and the processes are listed by a
pristine probe joined to the container's pid namespace.
"""

from __future__ import annotations

import json
import secrets
import stat
import time

UPLOADS = "/srv/media/uploads"
SERVICE, UPLOAD_PORT, PUBLISHER_PORT = "media", 8000, 8081
PROGRAM = "/opt/labs/uploads.py"


def _earlier(lab) -> list[str]:
    return [f"campaign-{lab.nonce[:6]}-{n}.jpg" for n in (1, 2, 3)] + ["hotfix-banner.jpg"]


def _passwd(lab) -> dict[str, int]:
    info = lab.read_file(SERVICE, "/etc/passwd")
    users = {}
    for line in (info.content.decode("utf-8", "replace") if info else "").splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit():
            users.setdefault(parts[0], int(parts[2]))
    return users


def _describe(info) -> str:
    if info is None:
        return "absent"
    return f"owner uid {info.uid}, group gid {info.gid}, mode {stat.S_IMODE(info.mode):04o}" + (f", ACL {' '.join(info.acl)}" if info.acl else "")


def _wait_for_services(lab, seconds: float = 10) -> None:
    """Give services a moment to (re)start under runit: a just-restarted service is not a broken one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if lab.http(SERVICE, UPLOAD_PORT, "/healthz").ok and lab.http(SERVICE, PUBLISHER_PORT, "/healthz").ok:
            return
        time.sleep(0.3)


def _upload(lab) -> tuple[str | None, str, str]:
    """Upload a fresh file; returns (problem or None, name, content)."""
    _wait_for_services(lab)
    name = f"check-{secrets.token_hex(6)}.jpg"
    content = f"JFIF product photo {lab.trace_id()} {lab.nonce}\n"
    resp = lab.http(SERVICE, UPLOAD_PORT, f"/upload?name={name}", method="POST", body=content, headers={"Content-Type": "image/jpeg"}, timeout=10)
    if resp.status != 201:
        return (f"POST /upload?name={name} to the upload service got {resp.describe()} — look at the service's log (the container's log), "
                f"who it runs as and who owns {UPLOADS}"), name, content
    try:
        answer = json.loads(resp.body)
    except ValueError:
        answer = {}
    if answer.get("size") != len(content.encode()):
        return f"POST /upload answered 201 but reported {answer!r}, not the {len(content.encode())} bytes sent", name, content
    return None, name, content


def _publisher_problem(lab, name: str, content: str) -> str | None:
    resp = lab.http(SERVICE, PUBLISHER_PORT, f"/files/{name}", timeout=10)
    if resp.status == 200 and resp.body == content:
        return None
    seen = _describe(lab.read_file(SERVICE, f"{UPLOADS}/{name}"))
    if resp.status == 200:
        return f"the publisher served /files/{name}, but not the bytes that were uploaded"
    return f"GET /files/{name} from the publisher got {resp.describe()}; the file in {UPLOADS} has {seen} — look at what the publisher's user may read"


def _world_open(lab) -> list[str]:
    problems = []
    for entry in lab.walk(SERVICE, "/srv/media"):
        mode = stat.S_IMODE(entry.mode)
        if entry.kind == "symlink":
            continue
        if mode & 0o002:
            problems.append(f"{entry.path} is writable by every user (mode {mode:04o})")
        elif entry.kind == "file" and mode & 0o004:
            problems.append(f"{entry.path} is readable by every user (mode {mode:04o})")
    return problems


def _processes(lab) -> tuple[list[int], str]:
    """uids of every process running the upload program (both services), from a pristine probe."""
    result = lab.probe(["ps", "-eo", "uid=,args="], image="probe", service=SERVICE, pid=True, timeout=20)
    uids = []
    for line in result.stdout.splitlines():
        uid, _, args = line.strip().partition(" ")
        if PROGRAM in args and not args.lstrip().startswith(("runuser", "su ", "chpst", "setpriv", "sudo")) and uid.isdigit():
            uids.append(int(uid))
    return uids, result.output


def _privilege_problems(lab, name: str | None) -> list[str]:
    problems = []
    uids, raw = _processes(lab)
    if len(uids) < 2:
        problems.append(f"the process list shows {len(uids)} process(es) running {PROGRAM}, expected two (uploads and publisher) — look at `sv status /etc/service/*`")
    if 0 in uids:
        problems.append(f"a process running {PROGRAM} runs as root (uid 0): both services must keep running as their own unprivileged users")
    users = _passwd(lab)
    if users.get("uploads") == 0 or users.get("publisher") == 0:
        problems.append("a service user has uid 0 in /etc/passwd: that is root under another name")
    if name:
        info = lab.read_file(SERVICE, f"{UPLOADS}/{name}")
        if info is not None and info.uid == 0:
            problems.append(f"the file just uploaded belongs to root: the upload service runs with root's rights")
    return problems


# --- objectives ---------------------------------------------------------------------------


def test_upload_stored(lab):
    """The upload service stores a new file"""
    problem, _, _ = _upload(lab)
    assert problem is None, problem


def test_publisher_serves_new_upload(lab):
    """A file uploaded now is served by the publisher"""
    problem, name, content = _upload(lab)
    assert problem is None, f"cannot test the publisher yet: {problem}"
    problem = _publisher_problem(lab, name, content)
    assert problem is None, problem


def test_publisher_serves_earlier_uploads(lab):
    """The publisher serves the uploads from before the deploy and the one stored by hand"""
    problems = []
    for name in _earlier(lab):
        resp = lab.http(SERVICE, PUBLISHER_PORT, f"/files/{name}", timeout=10)
        if resp.status != 200 or lab.nonce not in resp.body:
            problems.append(f"GET /files/{name} got {resp.describe()} (the file has {_describe(lab.read_file(SERVICE, f'{UPLOADS}/{name}'))})")
    assert not problems, " · ".join(problems[:2]) + (f" (and {len(problems) - 2} more)" if len(problems) > 2 else "") + " — uploads must not be lost or left unreadable"


def test_uploads_private(lab):
    """Nothing in the uploads area is open to every user, and both services run unprivileged"""
    problem, name, _ = _upload(lab)
    problems = _world_open(lab) + _privilege_problems(lab, None if problem else name)
    assert not problems, " · ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")


def test_survives_restart(lab):
    """Uploads and the publisher still work after a restart of every service"""
    lab.restart_all()
    problem, name, content = _upload(lab)
    if problem is None:
        problem = _publisher_problem(lab, name, content)
    problems = ([problem] if problem else []) + _world_open(lab) + _privilege_problems(lab, None if problem else name)
    assert not problems, "after restarting every service: " + " · ".join(problems[:3]) + " (a fix made only in a running process is lost on restart)"
