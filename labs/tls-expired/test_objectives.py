"""Objectives for tls-expired: HTTPS for shop.example.internal works for a client that
trusts only the company's root CA, with a current certificate and its full chain, for good.

The trust anchor is built here from the instance's `ca_seed` value (the root key is
derived from it), never read from the lab, so a learner cannot swap the root. Every
handshake runs from a pristine probe image (openssl, curl) on the lab network, as a
client of the service `web`, asking for the name shop.example.internal.
"""

import datetime as dt
import importlib.util
import re
from pathlib import Path

SITE = "shop.example.internal"
LAB = Path(__file__).parent


def _pki():
    spec = importlib.util.spec_from_file_location("tls_expired_pki", LAB / "pki.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _served(lab) -> tuple[list, str]:
    """(certificates nginx sends for SITE, the probe's complaint when the handshake fails)."""
    from cryptography import x509

    result = lab.probe(["sh", "-c", f"openssl s_client -connect web:443 -servername {SITE} -showcerts </dev/null"], image="probe", timeout=20)
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", result.stdout, re.S)
    if not blocks:
        errors = [line for line in result.stderr.splitlines() if "error" in line.lower() or "refused" in line.lower()]
        return [], (errors or result.stderr.strip().splitlines() or ["no output"])[0][:200]
    return [x509.load_pem_x509_certificate(block.encode()) for block in blocks], ""


def _curl(lab) -> tuple[bool, str]:
    """GET / for SITE, trusting only this instance's root CA: (ok, what curl said or the page)."""
    root = _pki().pem(_pki().root_cert(lab.values["ca_seed"]))
    script = (
        'printf "%s" "$ROOT_PEM" > /tmp/root.pem && '
        f"curl -sS --max-time 10 --cacert /tmp/root.pem --connect-to {SITE}:443:web:443 https://{SITE}/"
    )
    result = lab.probe(["sh", "-c", script], image="probe", env={"ROOT_PEM": root}, timeout=25)
    if result.exit_code != 0:
        said = [line for line in result.stderr.splitlines() if line.startswith("curl: (")] or result.stderr.strip().splitlines() or [f"curl exited {result.exit_code}"]
        return False, said[0][:240]
    return True, result.stdout


def _trusted_problem(lab) -> str | None:
    ok, said = _curl(lab)
    if not ok:
        return f"a client trusting only the company's root CA could not fetch https://{SITE}/: {said} — compare what nginx sends (the certificates in its ssl_certificate file, in order) with what that client needs"
    if lab.nonce not in said:
        return f"the handshake worked, but https://{SITE}/ did not serve this instance's shop page — the site must stay the one in /srv/shop"
    return None



def test_nginx_unmodified(lab):
    """nginx and openssl in the web container are as shipped"""
    problems = lab.integrity("web")
    assert not problems, f"{problems[0]} — the fix belongs in certificates and configuration (labs reset starts over)"


def test_certificate_current(lab):
    """The certificate served for shop.example.internal is valid today and names the site"""
    from cryptography import x509

    certs, complaint = _served(lab)
    assert certs, f"no TLS handshake with web:443 for {SITE} ({complaint}) — is nginx running, and does its configuration load (nginx -t)?"
    leaf = certs[0]
    now = dt.datetime.now(dt.timezone.utc)
    assert leaf.not_valid_after_utc > now, f"nginx sends a certificate that expired on {leaf.not_valid_after_utc:%Y-%m-%d} (subject {leaf.subject.rfc4514_string()}, issuer {leaf.issuer.rfc4514_string()}) — look at which file nginx serves, and whether the running nginx has loaded what is on disk"
    assert leaf.not_valid_before_utc <= now, f"the certificate nginx sends is not valid before {leaf.not_valid_before_utc:%Y-%m-%d}"
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    assert SITE in names, f"the certificate nginx sends is for {names or leaf.subject.rfc4514_string()}, not {SITE}"


def test_trusted_with_full_chain(lab):
    """A client that trusts only the company's root CA accepts the site (full chain, right name)"""
    problem = _trusted_problem(lab)
    assert problem is None, problem


def test_survives_restart(lab):
    """HTTPS still works after every service restarts"""
    lab.restart_all()
    problem = _trusted_problem(lab)
    assert problem is None, f"after restarting every service: {problem} (nginx loads what is on disk when it starts: a fix that lives only in the running process is lost)"
