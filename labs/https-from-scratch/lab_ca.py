"""The company CA of one lab instance, made from its seed (shared by setup, solution and checks).

The key is derived from the seed, and the certificate from the key with fixed fields, so the
same seed always gives a CA that verifies the same signatures: the checks rebuild it instead of
reading a file the learner could replace.
"""

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SHOP_NAME = "shop.lab.internal"
_NAME = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lab Shop Ltd"), x509.NameAttribute(NameOID.COMMON_NAME, "Lab Shop Company CA")])
_SINCE = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
_UNTIL = datetime.datetime(2044, 1, 1, tzinfo=datetime.timezone.utc)


def ca_key(seed: str) -> ec.EllipticCurvePrivateKey:
    secret = int.from_bytes(hashlib.sha256(f"lab-ca:{seed}".encode()).digest(), "big")
    return ec.derive_private_key(secret % (2**255 - 19) + 1, ec.SECP256R1())


def ca_certificate(seed: str) -> x509.Certificate:
    key = ca_key(seed)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_NAME)
        .issuer_name(_NAME)
        .public_key(public)
        .serial_number(int.from_bytes(hashlib.sha256(f"serial:{seed}".encode()).digest()[:8], "big"))
        .not_valid_before(_SINCE)
        .not_valid_after(_UNTIL)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def ca_certificate_pem(seed: str) -> bytes:
    return ca_certificate(seed).public_bytes(serialization.Encoding.PEM)


def ca_key_pem(seed: str) -> bytes:
    return ca_key(seed).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def server_certificate_pem(seed: str, names: list[str], key: ec.EllipticCurvePrivateKey) -> bytes:
    """A server certificate for ``names`` signed by the instance's CA (the reference solution's)."""
    ca = ca_key(seed)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(_NAME)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()), critical=False)
        .sign(ca, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
