"""A delivery has one deadline for the whole exchange, not one per read; and a TLS
connection verified for one host name carries no other host's deliveries."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.webhooks.sender import Sender


async def test_a_receiver_answering_a_byte_at_a_time_is_cut_off_at_the_deadline() -> None:
    # given: a receiver that sends its answer's head one byte every 0.1 s (each read
    # well within a per-read timeout), for much longer than the deadline
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(drip, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = Sender(timeout=0.5, allow_private=True)
    try:
        # when
        started = time.perf_counter()
        outcome = await sender.send(f"http://127.0.0.1:{port}/hook", {}, b"{}")
        took = time.perf_counter() - started
    finally:
        await sender.close()
        server.close()
        await server.wait_closed()
    # then: not delivered, and given up near the deadline, not after the 10 s drip
    assert outcome.status_code is None
    assert outcome.error is not None and "0.5 s" in outcome.error
    assert took < 5


def authority_and_server(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate authority (as a client trusts it) and a server's context with a
    certificate it signed for the host name `localhost` only."""
    now = datetime.now(UTC)

    def certificate(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: Any, ca: bool
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = x509.SubjectAlternativeName([x509.DNSName("localhost")])
            builder = builder.add_extension(names, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test authority")])
    ca = certificate("test authority", ca_key, ca_name, ca_key, True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate("localhost", leaf_key, ca_name, ca_key, False)
    (tmp / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp / "leaf.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp / "leaf.pem", tmp / "leaf.key")
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return client, server


async def test_a_tls_connection_verified_for_one_host_carries_no_other_hosts_delivery(
    tmp_path: Path,
) -> None:
    # given a TLS receiver on 127.0.0.1 whose certificate names `localhost` only, and
    # which keeps connections open
    trusted, context = authority_and_server(tmp_path)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    sender = Sender(timeout=5, allow_private=True, verify=trusted)
    alone = Sender(timeout=5, allow_private=True, verify=trusted)
    try:
        # when a delivery goes to https://localhost (verified), and then one to the
        # same address under a name the certificate does not hold
        first = await sender.send(f"https://localhost:{port}/hook", {}, b"{}")
        second = await sender.send(f"https://127.0.0.1:{port}/hook", {}, b"{}")
        # (as that second one fares on its own)
        fresh = await alone.send(f"https://127.0.0.1:{port}/hook", {}, b"{}")
    finally:
        await sender.close()
        await alone.close()
        server.close()
        await server.wait_closed()
    # then the first is delivered, and the second is refused as it is on its own: the
    # connection verified for localhost did not carry it
    assert first.status_code == 200
    assert fresh.status_code is None and fresh.error is not None
    assert second.status_code is None
    assert second.error is not None and "certificate" in second.error.lower()
