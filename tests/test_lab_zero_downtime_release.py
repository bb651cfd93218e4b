"""zero-downtime-release end to end: a fresh environment is not already built, and two release
scripts other than the reference one pass every objective (the shipped shortcuts are proven to
fail by `labs validate`'s shortcuts phase, which the suite runs over every lab).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker

LAB = "zero-downtime-release"

# Both releases in the upstream while the new one takes over, then the old one removed.
BOTH_UPSTREAMS = r"""#!/bin/sh
set -eu
new=$1
old=$(cat /etc/shop/live-port)
spare=$((8003 - old))
appctl stop "$spare" >/dev/null 2>&1 || true
appctl start "$new" "$spare"
n=0; while ! appctl health "$spare"; do n=$((n+1)); [ $n -lt 100 ]; sleep 0.1; done
printf 'upstream shop { server 127.0.0.1:%s; server 127.0.0.1:%s; }\n' "$old" "$spare" > /etc/nginx/shop-upstream.conf
nginx -s reload; sleep 0.5
printf 'upstream shop { server 127.0.0.1:%s; }\n' "$spare" > /etc/nginx/shop-upstream.conf
nginx -s reload; sleep 1
printf '%s\n' "$spare" > /etc/shop/live-port
ln -sfn "/srv/releases/$new" /srv/current
appctl stop "$old"
"""

# The same idea in Python, with the health wait done over HTTP.
PYTHON = r"""#!/usr/bin/env python3
import os, subprocess, sys, time, urllib.request
new = sys.argv[1]
live = int(open("/etc/shop/live-port").read())
spare = 8002 if live == 8001 else 8001
subprocess.run(["appctl", "stop", str(spare)], capture_output=True)
subprocess.run(["appctl", "start", new, str(spare)], check=True)
for _ in range(100):
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{spare}/healthz", timeout=1).status == 200:
            break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("never healthy")
with open("/etc/nginx/shop-upstream.conf.tmp", "w") as f:
    f.write(f"upstream shop {{ server 127.0.0.1:{spare}; }}\n")
os.replace("/etc/nginx/shop-upstream.conf.tmp", "/etc/nginx/shop-upstream.conf")
subprocess.run(["nginx", "-s", "reload"], check=True)
with open("/etc/shop/live-port.tmp", "w") as f:
    f.write(f"{spare}\n")
os.replace("/etc/shop/live-port.tmp", "/etc/shop/live-port")
os.symlink(f"releases/{new}", "/srv/current.tmp")
os.replace("/srv/current.tmp", "/srv/current")
time.sleep(1)
subprocess.run(["appctl", "stop", str(live)], check=True)
"""


def _failing(labs, name) -> set[str]:
    result, report = labs.json("check", LAB, "--instance", name, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    return {o["id"] for o in report["objectives"] if not o["passed"]}


def _install(labs, name, script: str) -> None:
    done = labs("shell", LAB, "web", "--instance", name, "--", "sh", "-c", "cat > /workspace/release && chmod 755 /workspace/release", input=script)
    assert done.returncode == 0, done.stdout + done.stderr


def test_fresh_environment_is_not_already_built(labs, lab_instance, instance_name):
    assert lab_instance(LAB).returncode == 0
    assert _failing(labs, instance_name) == {"test_release_v2_without_dropping_requests", "test_rolls_forward_again", "test_last_release_survives_restart"}


@pytest.mark.parametrize("script", [BOTH_UPSTREAMS, PYTHON], ids=["both-upstreams", "python"])
def test_other_valid_release_scripts_pass(labs, lab_instance, instance_name, script):
    assert lab_instance(LAB).returncode == 0
    _install(labs, instance_name, script)
    assert _failing(labs, instance_name) == set()
