"""https-from-scratch end to end: a fresh environment is not already built, and the reference build
and two other valid builds pass (the shipped shortcuts are proven to fail by `labs validate`'s
shortcuts phase, which the suite runs over every lab).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker

LAB = "https-from-scratch"

ISSUE_RSA = (
    "mkdir -p /etc/ssl/shop && cd /etc/ssl/shop"
    " && openssl req -new -newkey rsa:2048 -nodes -keyout shop.key -subj /CN=shop -out shop.csr"
    " && printf 'subjectAltName=DNS:shop.lab.internal,DNS:www.shop.lab.internal,IP:127.0.0.1\\n' > ext"
    " && openssl x509 -req -in shop.csr -CA /workspace/ca/company-ca.crt -CAkey /workspace/ca/company-ca.key"
    " -CAcreateserial -days 30 -extfile ext -out shop.crt"
    " && cat shop.crt /workspace/ca/company-ca.crt > fullchain.crt && chmod 600 shop.key"
)

# One server block for both ports, a scheme check, RSA with a full chain file, 308.
ONE_BLOCK = r"""
server {
    listen 80 default_server;
    listen 443 ssl default_server;
    server_name shop.lab.internal;
    ssl_certificate /etc/ssl/shop/fullchain.crt;
    ssl_certificate_key /etc/ssl/shop/shop.key;
    if ($scheme = http) { return 308 https://$host$request_uri; }
    location / { proxy_pass http://app:8000; }
}
"""

# Two blocks written by hand in conf.d (the shop site removed), 302 to the bare host name.
CONF_D = r"""
server { listen 80; server_name _; location / { return 302 https://shop.lab.internal:443$request_uri; } }
server {
    listen 443 ssl;
    server_name shop.lab.internal;
    ssl_certificate /etc/ssl/shop/shop.crt;
    ssl_certificate_key /etc/ssl/shop/shop.key;
    location / { proxy_set_header Host shop.lab.internal; proxy_pass http://app:8000/; }
}
"""


def _failing(labs, name) -> set[str]:
    result, report = labs.json("check", LAB, "--instance", name)
    assert result.returncode in (0, 1), result.stderr
    return {o["id"] for o in report["objectives"] if not o["passed"]}


def _shell(labs, name, script: str) -> None:
    done = labs("shell", LAB, "web", "--instance", name, "--", "sh", "-c", script)
    assert done.returncode == 0, done.stdout + done.stderr


def test_fresh_environment_is_not_built_and_reference_build_passes(labs, lab_instance, instance_name):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stderr
    assert _failing(labs, instance_name) == {"test_https_trusted_for_the_shop_name", "test_http_redirects_to_https", "test_survives_restart_of_every_service"}
    assert labs("solve", LAB, "--instance", instance_name).returncode == 0
    assert _failing(labs, instance_name) == set()


def test_other_valid_builds_pass(labs, lab_instance, instance_name):
    assert lab_instance(LAB).returncode == 0
    site = ONE_BLOCK.replace("\n", "\\n")
    _shell(labs, instance_name, f"{ISSUE_RSA} && printf '{site}' > /etc/nginx/sites-available/shop && nginx -t && nginx -s reload")
    assert _failing(labs, instance_name) == set()
    assert labs("reset", LAB, "--instance", instance_name).returncode == 0
    site = CONF_D.replace("\n", "\\n")
    _shell(labs, instance_name, f"{ISSUE_RSA} && rm /etc/nginx/sites-enabled/shop && printf '{site}' > /etc/nginx/conf.d/shop.conf && nginx -t && nginx -s reload")
    assert _failing(labs, instance_name) == set()
