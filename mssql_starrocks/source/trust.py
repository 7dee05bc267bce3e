"""One trust policy for SQL Server's TLS, applied by every client the product opens.

The settings (MSSQL_ENCRYPT, MSSQL_TRUST_SERVER_CERTIFICATE, MSSQL_CA_FILE,
MSSQL_HOST_NAME_IN_CERTIFICATE) become one `TrustPolicy`. With encryption on and certificate
checking on (the default), a server whose certificate does not chain to a trusted CA, or does not
name the host, is refused before the login packet (and so the password) is sent, on every path:

- Spark's JDBC extract: mssql-jdbc checks the certificate itself (`encrypt=true;
  trustServerCertificate=false`, `hostNameInCertificate`), against the JVM's trust store or,
  with MSSQL_CA_FILE, a PKCS12 trust store made from that file (driver option `trustStore`; on a Spark
  cluster the executors need the same path: see README).
- The catalog and count queries (pymssql): pymssql's `encryption="require"` alone encrypts but
  never checks the certificate, so the policy writes a FreeTDS configuration section for the
  connection with `ca file` (MSSQL_CA_FILE, else the system CA bundle Python's ssl uses) and
  `check certificate hostname = yes`; FreeTDS (1.x, bundled with pymssql) then verifies the
  chain and the name inside the TLS handshake of the very connection that logs in.

Why this and not the alternatives: verifying in the connection that carries the password leaves
no gap between a check and the login (a separate probe followed by an unchecked connection could
be answered by the real server and then intercepted); switching to python-tds would replace the
client every catalog query, error number and retry rule was written against. FreeTDS only says
"connection failed" when it refuses, so after such a failure `diagnose` repeats the PRELOGIN
and TLS handshake with Python's ssl (never sending LOGIN7) to tell an untrusted certificate
from an unreachable server, and the caller reports the one message of `untrusted_message`.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import struct
import tempfile
import threading
from dataclasses import dataclass

PT_PRELOGIN = 0x12
ENCRYPT_ON, ENCRYPT_NOT_SUP = 1, 2


def untrusted_message(where: str, reason: str) -> str:
    """The one message for a refused certificate, on every path (CLI, run, count queries)."""
    return (f"{where}: the server's TLS certificate is not trusted ({reason}); refused before the password "
            "was sent. Set MSSQL_CA_FILE to the PEM file of the CA that signed it (or "
            "MSSQL_HOST_NAME_IN_CERTIFICATE to the name it carries), or MSSQL_TRUST_SERVER_CERTIFICATE=true "
            "to accept it unchecked (the session stays encrypted).")


@dataclass(frozen=True)
class TrustPolicy:
    encrypt: bool = True
    trust_server_certificate: bool = False
    ca_file: str | None = None
    host_name_in_certificate: str | None = None

    @property
    def verifies(self) -> bool:
        """Encrypted and the certificate checked: the production default."""
        return self.encrypt and not self.trust_server_certificate

    def jdbc_properties(self) -> list[str]:
        props = [f"encrypt={'true' if self.encrypt else 'false'}",
                 f"trustServerCertificate={'true' if self.trust_server_certificate else 'false'}"]
        if self.host_name_in_certificate:
            props.append(f"hostNameInCertificate={self.host_name_in_certificate}")
        return props

    def jdbc_options(self) -> dict[str, str]:
        """Driver properties besides the URL's: the trust store made from MSSQL_CA_FILE."""
        if not (self.verifies and self.ca_file):
            return {}
        return {"trustStore": java_truststore(self.ca_bundle()), "trustStoreType": "PKCS12",
                "trustStorePassword": TRUSTSTORE_PASSWORD}

    def ca_bundle(self) -> str:
        """MSSQL_CA_FILE, else the system bundle Python's ssl trusts (certifi's as a last resort)."""
        if self.ca_file:
            if not os.path.isfile(self.ca_file):
                raise ValueError(f"MSSQL_CA_FILE: {self.ca_file} is not a readable file")
            return self.ca_file
        paths = ssl.get_default_verify_paths()
        for candidate in (paths.cafile, paths.openssl_cafile):
            if candidate and os.path.isfile(candidate):
                return candidate
        import certifi

        return certifi.where()

    def pymssql_args(self, host: str, port: int) -> dict:
        """pymssql.connect arguments naming the server and its encryption. When the certificate is
        checked, the server is a FreeTDS section carrying the CA bundle and the hostname check."""
        if not self.verifies:
            return {"server": host, "port": str(port), "encryption": "require" if self.encrypt else "off"}
        # FreeTDS checks the name it connects to; a different name in the certificate is checked by
        # `diagnose` before connecting (see MssqlClient.connect), the chain by FreeTDS.
        check_name = "no" if self.host_name_in_certificate else "yes"
        section = _freetds_section(host, port, self.ca_bundle(), check_name)
        return {"server": section, "port": str(port), "encryption": "require"}

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_bundle())
        context.check_hostname = True
        return context

    def diagnose(self, host: str, port: int, timeout_s: float = 15) -> str | None:
        """Why the server's certificate is not trusted, or None when it is (or cannot be reached:
        the caller's own error says so). PRELOGIN and the TLS handshake only: no login is sent."""
        try:
            tls_handshake(host, port, self.ssl_context(), self.host_name_in_certificate or host, timeout_s)
            return None
        except ssl.SSLCertVerificationError as exc:
            return exc.verify_message or str(exc)
        except EncryptionNotOffered:
            return "the server does not offer encryption, and MSSQL_ENCRYPT=true requires it"
        except (OSError, ssl.SSLError, ValueError, struct.error):
            return None


class EncryptionNotOffered(ConnectionError):
    pass


def tls_handshake(host: str, port: int, context: ssl.SSLContext, server_hostname: str,
                  timeout_s: float = 15) -> bytes:
    """PRELOGIN asking for encryption, then the TLS handshake in PRELOGIN packets ([MS-TDS]
    3.3.4.1) with `context`; the server's certificate (DER). No LOGIN7 is ever sent."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        _send(sock, PT_PRELOGIN, _prelogin_payload())
        _, reply = _receive(sock)
        if _encryption_option(reply) in (ENCRYPT_NOT_SUP, None):
            raise EncryptionNotOffered(f"{host}:{port} does not offer encryption")
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
        while True:
            try:
                tls.do_handshake()
                return tls.getpeercert(binary_form=True)
            except ssl.SSLWantReadError:
                pending = outgoing.read()
                if pending:
                    _send(sock, PT_PRELOGIN, pending)
                _, payload = _receive(sock)
                incoming.write(payload)


# Public certificates only: the password guards nothing secret, Java just wants one.
TRUSTSTORE_PASSWORD = "mssql_starrocks"


def java_truststore(ca_file: str) -> str:
    """A PKCS12 trust store holding the certificates of the PEM file `ca_file` (for mssql-jdbc),
    written once per content next to the process's temporary files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    with open(ca_file, "rb") as handle:
        pem = handle.read()
    path = os.path.join(tempfile.gettempdir(), f"mssql_starrocks_ca_{hashlib.sha256(pem).hexdigest()[:16]}.p12")
    if not os.path.exists(path):
        certs = [pkcs12.PKCS12Certificate(cert, f"ca{i}".encode())
                 for i, cert in enumerate(x509.load_pem_x509_certificates(pem))]
        store = pkcs12.serialize_java_truststore(
            certs, serialization.BestAvailableEncryption(TRUSTSTORE_PASSWORD.encode()))
        fd, partial = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".partial")
        with os.fdopen(fd, "wb") as out:
            out.write(store)
        os.replace(partial, path)
    return path


# --- FreeTDS sections: one file per process, one section per (server, CA, hostname check) --------
_lock = threading.Lock()
_conf_path: str | None = None
_sections: set[str] = set()


def _freetds_section(host: str, port: int, ca_file: str, check_name: str) -> str:
    global _conf_path
    name = "mssql_starrocks_" + hashlib.sha256(f"{host}\0{port}\0{ca_file}\0{check_name}".encode()).hexdigest()[:16]
    with _lock:
        if _conf_path is None:
            fd, _conf_path = tempfile.mkstemp(prefix="mssql_starrocks_freetds_", suffix=".conf")
            os.close(fd)
        if name not in _sections:
            with open(_conf_path, "a", encoding="utf-8") as conf:
                conf.write(f"[{name}]\n\thost = {host}\n\tport = {port}\n\ttds version = 7.4\n"
                           f"\tencryption = require\n\tca file = {ca_file}\n"
                           f"\tcheck certificate hostname = {check_name}\n")
            _sections.add(name)
        # FreeTDS reads the file named here at each connect.
        os.environ["FREETDSCONF"] = _conf_path
    return name


# --- TDS framing for the PRELOGIN probe ([MS-TDS] 2.2.3, 2.2.6.5) --------------------------------
def _prelogin_payload() -> bytes:
    version, encryption = bytes(6), bytes([ENCRYPT_ON])
    header_len = 5 * 2 + 1
    return (struct.pack(">BHH", 0x00, header_len, len(version))
            + struct.pack(">BHH", 0x01, header_len + len(version), 1) + b"\xff" + version + encryption)


def _send(sock: socket.socket, kind: int, payload: bytes) -> None:
    sock.sendall(struct.pack(">BBHHBB", kind, 0x01, 8 + len(payload), 0, 1, 0) + payload)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data


def _receive(sock: socket.socket) -> tuple[int, bytes]:
    payload, kind = b"", 0
    while True:
        kind, status, length = struct.unpack(">BBH", _read_exact(sock, 8)[:4])
        payload += _read_exact(sock, length - 8)
        if status & 0x01:
            return kind, payload


def _encryption_option(payload: bytes) -> int | None:
    i = 0
    while i < len(payload) and payload[i] != 0xFF:
        token, offset, length = struct.unpack(">BHH", payload[i:i + 5])
        if token == 0x01 and length >= 1:
            return payload[offset]
        i += 5
    return None
