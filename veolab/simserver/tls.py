"""A self-signed certificate for ``veolab sim serve --tls``: clients that only speak https.

fal-client builds ``https://{FAL_QUEUE_RUN_HOST}/...`` URLs, so it reaches a local server only
over TLS. :func:`self_signed` makes (once, then reuses) a certificate for 127.0.0.1, ::1 and
localhost with the ``cryptography`` package, and a CA bundle holding certifi's public CAs plus
that certificate; a client trusts the server with ``SSL_CERT_FILE=<bundle>`` (httpx, requests
and Python's ``ssl`` read it), and still trusts every public host::

    veolab sim serve --tls --port 8765
    export SSL_CERT_FILE=$VEOLAB_HOME/sim-tls/bundle.pem FAL_QUEUE_RUN_HOST=127.0.0.1:8765
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from veolab._fs import atomic_write_bytes, veolab_home

#: the names a simulator certificate is valid for
HOSTS = ("localhost", "127.0.0.1", "::1")
VALID_DAYS = 365


@dataclass(frozen=True)
class TLSFiles:
    """A certificate, its private key and a CA bundle that trusts it (PEM files)."""

    cert: Path
    key: Path
    bundle: Path

    def trust_hint(self) -> str:
        return f"trust it with: export SSL_CERT_FILE={self.bundle}"


def default_folder() -> Path:
    return veolab_home() / "sim-tls"


def self_signed(folder: Path | None = None, hosts: tuple[str, ...] = HOSTS) -> TLSFiles:
    """The certificate in ``folder`` (default ``$VEOLAB_HOME/sim-tls``): made when missing,
    expiring within a day, or not valid for ``hosts``; reused otherwise."""
    folder = folder or default_folder()
    files = TLSFiles(folder / "cert.pem", folder / "key.pem", folder / "bundle.pem")
    if not _usable(files, hosts):
        _make(files, hosts)
    return files


def _names(hosts: tuple[str, ...]) -> list[object]:
    from cryptography import x509

    out: list[object] = []
    for host in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def _usable(files: TLSFiles, hosts: tuple[str, ...]) -> bool:
    if not (files.cert.is_file() and files.key.is_file() and files.bundle.is_file()):
        return False
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    return cert.not_valid_after_utc > soon and all(name in san for name in _names(hosts))


def _make(files: TLSFiles, hosts: tuple[str, ...]) -> None:
    import certifi
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "veolab sim serve (local)")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)  # type: ignore[arg-type]
        # its own trust anchor: a CA that signs only itself, for servers on this machine
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    files.cert.parent.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    atomic_write_bytes(files.key, key_pem)
    os.chmod(files.key, 0o600)
    atomic_write_bytes(files.cert, pem)
    public_cas = Path(certifi.where()).read_bytes()
    atomic_write_bytes(files.bundle, public_cas.rstrip(b"\n") + b"\n" + pem)
