"""Objectives for https-from-scratch (a build lab): each test is one objective of `labs check`.

Every probe comes from outside the containers: TLS handshakes from this machine with a trust
store holding only this instance's company CA (rebuilt from the instance's seed, never read from
the learner's files), HTTP requests to the published ports, and the app's own log (read through
the engine) to prove a request really reached the app through nginx.
"""

import hashlib
import http.client
import importlib.util
import secrets
import socket
import ssl
from pathlib import Path

import pytest

from checks import eventually

_spec = importlib.util.spec_from_file_location("https_lab_ca", Path(__file__).with_name("lab_ca.py"))
lab_ca = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab_ca)

NAME = lab_ca.SHOP_NAME


def _trust(lab) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=lab_ca.ca_certificate_pem(lab.values["ca_seed"]).decode())
    context.check_hostname = True
    context.hostname_checks_common_name = False  # as browsers do: names come from subjectAltName only
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _https_get(lab, path: str):
    """GET ``path`` over HTTPS for shop.lab.internal; returns (status, body) or raises ssl/OS errors."""
    port = lab.port("web", 443)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with _trust(lab).wrap_socket(raw, server_hostname=NAME) as tls:
        tls.settimeout(5)
        request = f"GET {path} HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
        tls.sendall(request.encode())
        response = http.client.HTTPResponse(tls)
        response.begin()
        return response.status, response.read(200_000).decode("utf-8", "replace")


def _https_problem(lab) -> str | None:
    """A fresh probe over trusted HTTPS must come back answered by this instance's live app."""
    probe = secrets.token_hex(8)
    try:
        status, body = _https_get(lab, f"/?probe={probe}")
    except ssl.SSLCertVerificationError as err:
        return f"the TLS handshake for {NAME} on the published HTTPS port was refused by a client that trusts only the company CA: {err.verify_message} — look at who signed the certificate nginx serves and which names it carries"
    except ssl.SSLError as err:
        return f"no TLS handshake on the published HTTPS port ({err.reason or err}) — is nginx listening there with ssl, and a certificate and key it can read?"
    except OSError as err:
        return f"nothing answered on the web server's published HTTPS port ({err}) — which ports does nginx listen on?"
    if status != 200:
        return f"https://{NAME}/ answered HTTP {status} — look at /var/log/nginx/shop.error.log in the web container"
    expected = hashlib.sha256(f"{lab.nonce}:{probe}".encode()).hexdigest()[:16]
    if lab.nonce not in body or expected not in body:
        return f"https://{NAME}/ answered, but not with this instance's live shop page — HTTPS must reach the app, not a copy"
    if not _app_logged(lab, f"probe={probe}"):
        return "the shop page came back over HTTPS, but the app never saw the request — HTTPS must be proxied to the app"
    return None


def _app_logged(lab, text: str, seconds: float = 3.0) -> bool:
    """Did the app's own log (kept by the engine) record ``text``? The engine's log lags the
    response by a moment, so look again for a few seconds."""
    missing = eventually(lambda: None if text in lab.logs("app") else "not logged", seconds=seconds, interval=0.1)
    return missing is None


def _redirect_problem(lab) -> str | None:
    path = f"/orders?ref={secrets.token_hex(6)}"
    resp = lab.http("web", 80, path)
    if resp.status is None:
        return f"nothing answered on the web server's published plain-HTTP port ({resp.describe()}) — visitors typing http:// must still be answered"
    if resp.status not in (301, 302, 307, 308):
        return f"http://{NAME}{path} answered {resp.describe()} instead of redirecting — plain-HTTP visitors must be sent to HTTPS"
    location = resp.headers.get("location", "")
    if not location.startswith("https://"):
        return f"http://{NAME}{path} redirects to {location!r}, which is not HTTPS"
    if not location.endswith(path):
        return f"http://{NAME}{path} redirects to {location!r}: the visitor's path and query are lost on the way"
    return None


@pytest.mark.stage("tls")
def test_https_trusted_for_the_shop_name(lab):
    """The shop answers over HTTPS as shop.lab.internal, trusted through the company CA"""
    problem = _https_problem(lab)
    assert problem is None, problem


@pytest.mark.stage("redirect")
def test_http_redirects_to_https(lab):
    """Plain-HTTP visitors are redirected to HTTPS with their path and query"""
    problem = _redirect_problem(lab)
    assert problem is None, problem


@pytest.mark.stage("persist")
@pytest.mark.budget(40)
def test_survives_restart_of_every_service(lab):
    """HTTPS and the redirect still work after every service restarts"""
    before = _https_problem(lab) or _redirect_problem(lab)
    assert before is None, f"not working yet, so nothing to keep: {before}"
    for service in lab.instance.services:
        lab.restart(service)
    ok = lab.wait_for(lambda: (_https_problem(lab) or _redirect_problem(lab)) is None, what="waiting for the shop to come back after the restarts", seconds=15, every=0.5)
    assert ok, f"after every service restarted: {_https_problem(lab) or _redirect_problem(lab)} — something lived only in a running process, not in the configuration"
