"""The shop's internal PKI for one lab instance, made with the `cryptography` package.

The root CA's key is derived from the instance's `ca_seed` value, so the checks can
build the one trust anchor of this instance themselves (a client that trusts only the
lab CA) without reading anything a learner could replace. Everything else (the
intermediates, the leaf keys) is random and made at break time.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SITE = "shop.example.internal"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Shop Ltd"), x509.NameAttribute(NameOID.COMMON_NAME, common)])


def root_key(seed: str) -> ec.EllipticCurvePrivateKey:
    secret = int.from_bytes(hashlib.sha256(f"shop-root-ca:{seed}".encode()).digest(), "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(secret, ec.SECP256R1())


def _cert(subject, issuer, key_pub, signer, not_before, not_after, *, ca: bool, issuer_pub=None, san: str | None = None):
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key_pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer != subject else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key_pub), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_pub or key_pub), critical=False)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def root_cert(seed: str) -> x509.Certificate:
    """This instance's root CA certificate (its key derived from ``seed``)."""
    key = root_key(seed)
    now = dt.datetime.now(dt.timezone.utc)
    name = _name("Shop Internal Root CA")
    return _cert(name, name, key.public_key(), key, now - dt.timedelta(days=3650), now + dt.timedelta(days=3650), ca=True)


def pem(item) -> str:
    if isinstance(item, x509.Certificate):
        return item.public_bytes(serialization.Encoding.PEM).decode()
    if isinstance(item, x509.CertificateSigningRequest):
        return item.public_bytes(serialization.Encoding.PEM).decode()
    return item.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()).decode()


def issue(seed: str) -> dict[str, str]:
    """Every PEM the break puts in place: the CA certificates, last year's chain (expired
    leaf) and this year's renewal (new key, new leaf from the new intermediate)."""
    now = dt.datetime.now(dt.timezone.utc)
    day = dt.timedelta(days=1)
    rkey, root = root_key(seed), root_cert(seed)
    out = {"root": pem(root)}
    leaves = {}
    for year, (i_from, i_to, l_from, l_to) in {
        "2025": (-700, 30, -368, -3),  # last year's intermediate; its leaf expired three days ago
        "2026": (-40, 1100, -1, 89),  # the new intermediate; the renewed leaf is good for 90 days
    }.items():
        ikey = ec.generate_private_key(ec.SECP256R1())
        inter = _cert(_name(f"Shop Issuing CA {year}"), root.subject, ikey.public_key(), rkey, now + i_from * day, now + i_to * day, ca=True, issuer_pub=rkey.public_key())
        lkey = ec.generate_private_key(ec.SECP256R1())
        leaf = _cert(_name(SITE), inter.subject, lkey.public_key(), ikey, now + l_from * day, now + l_to * day, ca=False, issuer_pub=ikey.public_key(), san=SITE)
        out[f"intermediate-{year}"] = pem(inter)
        leaves[year] = (lkey, leaf)
    out["old-key"], out["old-leaf"] = pem(leaves["2025"][0]), pem(leaves["2025"][1])
    out["new-key"], out["new-leaf"] = pem(leaves["2026"][0]), pem(leaves["2026"][1])
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name(SITE)).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(SITE)]), critical=False).sign(leaves["2026"][0], hashes.SHA256())
    out["new-csr"] = pem(csr)
    return out
