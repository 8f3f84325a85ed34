"""Throw-away certificates for TLS on one machine: a CA, a server and a client certificate.

    python -m tutorial.certificates DIR     # writes DIR/ca.pem, server.pem, server.key, client.pem, client.key

Made with ``cryptography``, so there is no openssl command line to get right. The server
certificate names ``localhost`` and ``127.0.0.1`` (a client checks the name it dialled
against it); every certificate lasts one day, because these are for a lesson, not for a
server anyone else connects to. For a real deployment the certificates come from your
organisation's CA or from cert-manager (docs/tls.md).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(days=1)
# The names a client on this machine dials.
SERVER_DNS_NAMES = ("localhost",)
SERVER_IPS = ("127.0.0.1",)


@dataclass(frozen=True)
class Pem:
    """A certificate and its private key, as PEM text."""

    cert: str
    key: str


@dataclass(frozen=True)
class TlsFiles:
    ca: Pem
    server: Pem
    client: Pem


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pem:
    return Pem(
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )


def _builder(subject: str, issuer: x509.Name, public_key, now: datetime.datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # a clock a little behind still accepts it
        .not_valid_after(now + VALID_FOR)
    )


def make_ca(
    common_name: str = "TF Serving tutorial CA",
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        _builder(common_name, _name(common_name), key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, common_name: str, server: bool
) -> Pem:
    """A leaf certificate signed by the CA: for a server (with its names) or for a client."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = _builder(common_name, ca_cert.subject, key.public_key(), now).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    if server:
        names = [x509.DNSName(name) for name in SERVER_DNS_NAMES]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_IPS]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        usage = ExtendedKeyUsageOID.SERVER_AUTH
    else:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return _pem(builder.sign(ca_key, hashes.SHA256()), key)


def make_tls_files() -> TlsFiles:
    """One CA, and a server and a client certificate it signed."""
    ca_cert, ca_key = make_ca()
    return TlsFiles(
        ca=_pem(ca_cert, ca_key),
        server=issue(ca_cert, ca_key, "localhost", server=True),
        client=issue(ca_cert, ca_key, "tutorial client", server=False),
    )


def ssl_config_text(files: TlsFiles, client_verify: bool) -> str:
    """A ``tensorflow.serving.SSLConfig`` text proto: the PEM text itself, not file names."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = [
        f"server_key: {quoted(files.server.key)}",
        f"server_cert: {quoted(files.server.cert)}",
        f"custom_ca: {quoted(files.ca.cert)}",
        f"client_verify: {'true' if client_verify else 'false'}",
    ]
    return "\n".join(lines) + "\n"


def write_tls_files(directory: Path, files: TlsFiles) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("ca.pem", files.ca.cert),
        ("server.pem", files.server.cert),
        ("server.key", files.server.key),
        ("client.pem", files.client.cert),
        ("client.key", files.client.key),
    ):
        path = directory / name
        path.write_text(text, encoding="utf-8")
        if name.endswith(".key"):
            path.chmod(0o600)  # a private key is for its owner's eyes only


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tutorial.certificates", description=__doc__.split("\n")[0]
    )
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.directory.exists() and not args.directory.is_dir():
        raise SystemExit(f"error: {args.directory} is a file; name a folder for the certificates")
    write_tls_files(args.directory, make_tls_files())
    print(f"wrote ca.pem, server.pem, server.key, client.pem, client.key to {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
