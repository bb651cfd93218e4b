"""Objectives for sshd-keys: the bot's key logs in, passwords stay out, and the key files stay safe.

Every probe runs from a pristine image: the ssh client on the lab network (as the
CI bot connects), `sshd -T` from the server's original image with the learner's
/etc/ssh copied in, and files read through the engine. The bot's key pair is
derived from this instance's seed, and each login echoes a fresh trace id.
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import PurePosixPath

import pytest

SSH_OPTIONS = [
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5",
]
# Client addresses sshd's Match blocks are evaluated for: the private ranges (the lab
# network is one of them), loopback, and an outside address.
_passed: set[str] = set()  # objectives that passed in this run (the restart objective waits for them)
ADDRESSES = ("10.20.30.40", "172.20.0.5", "192.168.50.5", "127.0.0.1", "203.0.113.7")


def _bot_private_key(seed: str) -> str:
    """The CI bot's private key, derived from the instance's seed exactly as break.py did."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"deploy-bot:{seed}".encode()).digest())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()


def _key_login_problem(lab) -> str | None:
    """ssh deploy@server with the bot's key from a pristine probe: a problem, or None."""
    trace = lab.trace_id()
    script = (
        'umask 077; printf "%s" "$BOT_KEY" > /tmp/bot; '
        f'exec ssh -i /tmp/bot -o IdentitiesOnly=yes -o BatchMode=yes -o PreferredAuthentications=publickey {" ".join(SSH_OPTIONS)} '
        f'deploy@server "echo {trace}; id -un"'
    )
    result = lab.probe(["sh", "-c", script], image="probe", env={"BOT_KEY": _bot_private_key(lab.values["bot_key_seed"])}, timeout=40)
    said = " ".join(result.output.split())[:200]
    if result.exit_code == 0 and trace in result.stdout and result.stdout.split()[-1:] == ["deploy"]:
        return None
    if "Connection refused" in said or "Could not resolve" in said or "timed out" in said:
        return f"ssh to server:22 from the lab network failed: {said} — is sshd running? Its start-up errors are in /run/labs/sshd-start.log and /var/log/sshd.log"
    if "Permission denied" in said:
        return f"sshd refused the CI bot's key for deploy ({said}) — sshd logs why in /var/log/sshd.log on the server"
    return f"ssh deploy@server with the bot's key did not run the command as deploy (exit {result.exit_code}: {said or 'no output'})"


def _password_problem(lab) -> str | None:
    """Try deploy's real password from a pristine probe: it must be refused."""
    marker = lab.trace_id()
    script = (
        'printf "#!/bin/sh\\necho \\"\\$DEPLOY_PASSWORD\\"\\n" > /tmp/askpass; chmod 700 /tmp/askpass; '
        "SSH_ASKPASS=/tmp/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=none "
        f'ssh -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive -o NumberOfPasswordPrompts=1 {" ".join(SSH_OPTIONS)} '
        f'deploy@server "echo {marker}" </dev/null'
    )
    result = lab.probe(["sh", "-c", script], image="probe", env={"DEPLOY_PASSWORD": lab.values["deploy_password"]}, timeout=40)
    if marker in result.stdout:
        return "a client on the lab network logged in as deploy with deploy's password — password logins must be refused for every client, internal networks included"
    return None


def _effective_configs(lab) -> dict[str, dict[str, list[str]]] | str:
    """`sshd -T` for deploy connecting from each of ADDRESSES, in ONE probe of the server's pristine
    image with the learner's /etc/ssh copied in: address -> settings, or a problem."""
    script = "mkdir -p /run/sshd && " + " && ".join(
        f"echo '@@ {address}' && /usr/sbin/sshd -T -f /etc/ssh/sshd_config -C user=deploy,host=client,addr={address}" for address in ADDRESSES
    )
    result = lab.probe(["sh", "-c", script], image="sshd", copy={"/etc/ssh": "server:/etc/ssh"}, timeout=40)
    if result.exit_code != 0:
        return f"sshd -T on the server's /etc/ssh failed: {' '.join(result.stderr.split() or result.output.split())[:200]}"
    configs: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        if line.startswith("@@ "):
            current = configs.setdefault(line[3:].strip(), {})
            continue
        key, _, value = line.partition(" ")
        current.setdefault(key.lower(), []).append(value.strip())
    return configs


def _config_problem(configs) -> str | None:
    if isinstance(configs, str):
        return configs
    for address in ADDRESSES:
        config = configs.get(address, {})
        for key in ("passwordauthentication", "kbdinteractiveauthentication"):
            if config.get(key, ["yes"])[0] != "no":
                return f"sshd's configuration (sshd -T for deploy connecting from {address}) has {key} {config.get(key, ['?'])[0]} — password logins must be off for every client"
    return None


def _passwd_entry(lab, user: str) -> tuple[str, int] | None:
    """(home, uid) of ``user`` in the server's /etc/passwd, read through the engine."""
    passwd = lab.read_file("server", "/etc/passwd")
    for line in (passwd.content.decode("utf-8", "replace") if passwd and passwd.content else "").splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[0] == user and fields[2].isdigit():
            return fields[5], int(fields[2])
    return None


def _unsafe(info, uid: int) -> str | None:
    """Why sshd's StrictModes would (or should) distrust this path, or None."""
    if info.uid not in (0, uid):
        return f"is owned by uid {info.uid}"
    if info.kind != "symlink" and info.mode & 0o022:
        return f"has mode {stat.S_IMODE(info.mode):04o}, which lets {'group and others' if info.mode & 0o002 and info.mode & 0o020 else 'others' if info.mode & 0o002 else 'its group'} write"
    return None


def _key_files_problem(lab, configs) -> str | None:
    if isinstance(configs, str):
        return configs
    config = configs.get("172.20.0.5", {})
    if config.get("strictmodes", ["yes"])[0] != "yes":
        return "sshd runs with StrictModes off: it accepts keys from files other users could have changed"
    home = _passwd_entry(lab, "deploy")
    if home is None:
        return "there is no user deploy in the server's /etc/passwd any more (labs reset starts over)"
    home, uid = home
    patterns = " ".join(config.get("authorizedkeysfile", [".ssh/authorized_keys"])).split()
    found = []
    for pattern in patterns:
        path = pattern.replace("%%", "\0").replace("%h", home).replace("%u", "deploy").replace("%U", str(uid)).replace("\0", "%")
        if not path.startswith("/"):
            path = f"{home.rstrip('/')}/{path}"
        info = lab.read_file("server", path)
        if info is None:
            continue
        found.append(path)
        for step in [path] + [str(p) for p in PurePosixPath(path).parents]:
            step_info = lab.read_file("server", step)
            if step_info is None:
                continue
            why = _unsafe(step_info, uid)
            if why:
                return f"{step} ({'the keys file' if step == path else 'a directory above the keys file ' + path}) {why}: someone other than deploy could change which keys log in as deploy"
    if not found:
        return f"none of the files sshd reads deploy's keys from exists ({', '.join(patterns)})"
    return None


# --- objectives ----------------------------------------------------------------------------------

def test_bot_key_logs_in(lab):
    """The CI bot logs in as deploy with its key"""
    problem = _key_login_problem(lab)
    assert problem is None, problem
    _passed.add("key")


def test_password_refused(lab):
    """Password logins are refused, from every network"""
    problem = _password_problem(lab) or _config_problem(_effective_configs(lab))
    assert problem is None, problem
    _passed.add("password")


def test_key_files_safe(lab):
    """Only deploy (or root) can change which keys log in as deploy"""
    problem = _key_files_problem(lab, _effective_configs(lab))
    assert problem is None, problem
    _passed.add("files")


def test_sshd_unmodified(lab):
    """sshd and the server's system files are the original ones"""
    problems = lab.integrity("server")
    assert not problems, "; ".join(problems[:5]) + " — the repair is in configuration and file ownership, not in sshd's binaries"
    _passed.add("code")


def test_survives_restart(lab):
    """Key login works and passwords stay refused after a restart"""
    pending = {"key", "password", "files", "code"} - _passed
    if pending:
        pytest.skip("not tried yet: the server is restarted for this check once every other objective passes")
    lab.restart_all()
    problem = _key_login_problem(lab) or _password_problem(lab)
    assert problem is None, f"after restarting the server: {problem} (a fix made only in the running sshd is lost on restart)"
