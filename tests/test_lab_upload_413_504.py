"""The upload-413-504 lab end to end on the real engine, through the real `labs` command.

Broken → the expected objectives fail (nginx's 413 and 504 named as nginx's) → the
reference solution → all pass → a second solution run changes nothing. Then two other
valid fixes, made the way a learner would (`labs shell`), pass every objective: raising
the limits in the conf.d baseline and the uploads location (bounded) instead of per
location, and a server-level body limit and read timeout. The shortcuts in
labs/upload-413-504/shortcuts/ are proven to fail by `labs validate` (its shortcuts phase).
"""

from __future__ import annotations

import pytest

from lab_driver import LabDriver

pytestmark = pytest.mark.docker

LAB = "upload-413-504"
ALL = {"test_app_unmodified", "test_limits_bounded", "test_upload_20mb", "test_survives_restart", "test_monthly_report"}
SITE = "/etc/nginx/sites-available/reports"
APP_SETTINGS = "/etc/report-api/report-api.env"
RESTART_API = "sed -i 's/^MAX_UPLOAD_MB=.*/MAX_UPLOAD_MB={mb}/' " + APP_SETTINGS + " && pkill -f '^python3 -u /srv/app/app.py'; sleep 2"


ALTERNATIVES = {
    # The baseline itself raised (still bounded), and the uploads location's own limit.
    "baseline-raised": [
        ("proxy", "sed -i -e 's/^proxy_read_timeout .*/proxy_read_timeout 2m;/' /etc/nginx/conf.d/10-baseline.conf"
                  f" && sed -i 's/client_max_body_size 10m;/client_max_body_size 25m;/' {SITE} && nginx -t && nginx -s reload"),
        ("app", RESTART_API.format(mb=24)),
    ],
    # Server-level settings: the location's limit removed, the server's set (in MB, with a capital M).
    "server-level": [
        ("proxy", f"sed -i -e '/client_max_body_size 10m;/d' -e 's/server_name _;/server_name _;\\n    client_max_body_size 40M;\\n    proxy_read_timeout 75s;/' {SITE}"
                  " && nginx -t && nginx -s reload"),
        ("app", RESTART_API.format(mb=40)),
    ],
}


@pytest.mark.parametrize("fix", sorted(ALTERNATIVES))
def test_alternative_fix_passes(labs, lab_instance, instance_name, fix):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    LabDriver(labs, LAB, instance_name).fix_passes(ALTERNATIVES[fix])
