"""Make a throwaway CA and a server certificate for 127.0.0.1 and localhost with the openssl command."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

# Our own config, so the result does not depend on the system's openssl.cnf. The extensions are
# the ones strict verification (VERIFY_X509_STRICT, on by default since Python 3.13) insists on.
_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path  # what a client trusts
    cert_file: Path  # what the server presents
    key_file: Path


def openssl_available() -> bool:
    return shutil.which(OPENSSL) is not None


def make_certificates(directory: Path) -> TlsFiles:
    """A CA and a server certificate it signed, valid for two days, in ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "openssl.cnf"
    config.write_text(_OPENSSL_CONFIG)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca_key, request = directory / "ca.key", directory / "server.csr"
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *key,
        "-keyout",
        ca_key,
        "-out",
        files.ca_file,
        "-days",
        "2",
        "-subj",
        "/CN=maildesk test CA",
        "-config",
        config,
        "-extensions",
        "ca",
    )
    _openssl(
        "req",
        "-new",
        *key,
        "-keyout",
        files.key_file,
        "-out",
        request,
        "-subj",
        "/CN=localhost",
        "-config",
        config,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        request,
        "-CA",
        files.ca_file,
        "-CAkey",
        ca_key,
        "-set_serial",
        "2",
        "-days",
        "2",
        "-out",
        files.cert_file,
        "-extfile",
        config,
        "-extensions",
        "server",
    )
    return files


def _openssl(*args: object) -> None:
    result = subprocess.run(
        [OPENSSL, *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.decode(errors='replace').strip()}")
