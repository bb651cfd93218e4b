"""The tls-expired lab end to end on the real engine, through the real `labs` command.

Broken → the expected objectives fail → the reference solution → all pass → a second
solution run changes nothing. Then two other valid fixes, made the way a learner would
(`labs shell`), pass every objective: a new chain file (with the root appended) and the renewal's key
named in the site's config, and the renewal's files written at the configured paths with
nginx stopped and started instead of reloaded. The shortcuts in
labs/tls-expired/shortcuts/ are proven to fail by `labs validate` (its shortcuts phase).
"""

from __future__ import annotations

import pytest

from lab_driver import LabDriver

pytestmark = pytest.mark.docker

LAB = "tls-expired"
ALL = {"test_nginx_unmodified", "test_certificate_current", "test_trusted_with_full_chain", "test_survives_restart"}
PKI = "/etc/ssl/shop-pki"
RENEWAL = "/root/renewal/shop.example.internal"


ALTERNATIVES = {
    # A new chain file (leaf, issuing CA, root) and the renewal's key where it lies, named in the site.
    "new-files-in-config": (
        f"cat {RENEWAL}.crt {PKI}/shop-issuing-ca-2026.crt {PKI}/shop-root-ca.crt > /etc/ssl/shop/shop-2026-chain.pem"
        " && sed -i -e 's#/etc/ssl/shop/fullchain.pem#/etc/ssl/shop/shop-2026-chain.pem#'"
        f" -e 's#/etc/ssl/private/shop.key#{RENEWAL}.key#' /etc/nginx/sites-available/shop"
        " && nginx -t && nginx -s reload"
    ),
    # The same files at the configured paths, then nginx stopped and started (no reload).
    "in-place-and-restart": (
        f"cat {RENEWAL}.crt {PKI}/shop-issuing-ca-2026.crt > /etc/ssl/shop/fullchain.pem"
        f" && install -m 600 {RENEWAL}.key /etc/ssl/private/shop.key"
        " && nginx -t && nginx -s quit && sleep 1 && nginx"
    ),
}


@pytest.mark.parametrize("fix", sorted(ALTERNATIVES))
def test_alternative_fix_passes(labs, lab_instance, instance_name, fix):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    LabDriver(labs, LAB, instance_name).fix_passes([("web", ALTERNATIVES[fix])])
