"""rollback-bad-release end to end: a fresh environment is not already built, and two rollback
scripts other than the reference one pass every objective (the shipped shortcuts are proven to
fail by `labs validate`'s shortcuts phase, which the suite runs over every lab).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker

LAB = "rollback-bad-release"

# Python: sorted folder names, the live one found through the symlink, appctl by hand, records
# updated with atomic renames.
PYTHON = r"""#!/usr/bin/env python3
import os, subprocess, sys, time
releases = sorted(os.listdir("/srv/releases"))
live = os.path.basename(os.readlink("/srv/current"))
index = releases.index(live)
if index == 0:
    sys.exit("nothing older to roll back to")
previous = releases[index - 1]
port = open("/etc/shop/live-port").read().strip()
os.symlink(f"/srv/releases/{previous}", "/srv/current.tmp")
os.replace("/srv/current.tmp", "/srv/current")
subprocess.run(["appctl", "stop", port], check=True)
subprocess.run(["appctl", "start", previous, port], check=True, env={**os.environ, "WARMUP": "0"})
for _ in range(50):
    if subprocess.run(["appctl", "health", port]).returncode == 0:
        break
    time.sleep(0.1)
"""

# Shell without deploy-release: the previous release by `ls -r` and grep, started on the spare
# port, nginx switched, the old release stopped.
SPARE_PORT = r"""#!/bin/sh
set -eu
live=$(readlink /srv/current | sed 's#.*/##')
previous=$(ls -1r /srv/releases | grep -A1 -x "$live" | tail -n 1)
[ "$previous" != "$live" ]
old=$(cat /etc/shop/live-port)
new=$((8003 - old))
appctl stop "$new" >/dev/null 2>&1 || true
WARMUP=0 appctl start "$previous" "$new"
until appctl health "$new"; do sleep 0.1; done
printf 'upstream shop { server 127.0.0.1:%s; }\n' "$new" > /etc/nginx/shop-upstream.conf
nginx -s reload
echo "$new" > /etc/shop/live-port
ln -sfn "releases/$previous" /srv/current
sleep 0.5
appctl stop "$old"
"""


def _failing(labs, name) -> set[str]:
    result, report = labs.json("check", LAB, "--instance", name, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    return {o["id"] for o in report["objectives"] if not o["passed"]}


@pytest.mark.parametrize("script", [PYTHON, SPARE_PORT], ids=["python", "spare-port"])
def test_other_valid_rollback_scripts_pass(labs, lab_instance, instance_name, script):
    assert lab_instance(LAB).returncode == 0
    assert "test_previous_good_release_serves" in _failing(labs, instance_name)
    done = labs("shell", LAB, "web", "--instance", instance_name, "--", "sh", "-c",
                "cat > /workspace/rollback && chmod 755 /workspace/rollback && /workspace/rollback", input=script)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _failing(labs, instance_name) == set()
