"""TLS a server can get wrong, or fake: a certificate for another name (or another IP, or the
IDNA 2003 spelling of ours), an expired one, one from a CA we do not trust. And what we must
send: SNI for names (never for IP literals), ALPN ``http/1.1``; and where trust comes from
(``SSL_CERT_FILE``, ``SSL_CERT_DIR``).

Every refused certificate is an ``httpx.ConnectError`` (an ``APIConnectionError`` through the
clients), and no request reaches the server.
"""

from __future__ import annotations

import datetime
import shutil
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme

from inferencesh import APIConnectionError

from .conftest import MakeApi, MakeClient, StartServer
from .harness import Conn, Resolver, Script, task_response


@dataclass
class Seen:
    """What the server saw of each handshake."""

    sni: list[str | None] = field(default_factory=list)
    alpn: list[str | None] = field(default_factory=list)


def server_context(cert: trustme.LeafCert, seen: Seen | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])
    if seen is not None:

        def record(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
            seen.sni.append(name)

        context.sni_callback = record  # type: ignore[assignment]
    return context


def answering(seen: Seen | None = None) -> Script:
    def script(conn: Conn) -> None:
        if seen is not None and isinstance(conn.sock, ssl.SSLSocket):
            seen.alpn.append(conn.sock.selected_alpn_protocol())
        while conn.read_request() is not None:
            conn.send(task_response("t1"))

    return script


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_a_trusted_certificate_with_sni_and_alpn(
    make_client: MakeClient, start_server: StartServer, resolver: Resolver, ca: trustme.CA
) -> None:
    seen = Seen()
    server = start_server(
        answering(seen), ssl_context=server_context(ca.issue_cert("api.test"), seen)
    )
    client = make_client(verify=trusting(ca))
    assert (await client.get(server.url("/tasks/t1", host="api.test"))).json()["id"] == "t1"
    assert (await client.get(server.url("/tasks/t1", host="api.test"))).json()["id"] == "t1"
    assert seen.sni == ["api.test"]
    assert seen.alpn == ["http/1.1"]
    assert server.accepted == 1


async def test_no_sni_for_an_ip_literal(
    make_client: MakeClient, start_server: StartServer, ca: trustme.CA
) -> None:
    seen = Seen()
    server = start_server(
        answering(seen), ssl_context=server_context(ca.issue_cert("127.0.0.1"), seen)
    )
    client = make_client(verify=trusting(ca))
    assert (await client.get(server.url("/tasks/t1"))).json()["id"] == "t1"
    assert seen.sni == [None]
    assert seen.alpn == ["http/1.1"]


def expired(ca: trustme.CA, name: str) -> trustme.LeafCert:
    now = datetime.datetime.now(datetime.timezone.utc)
    return ca.issue_cert(
        name,
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )


REFUSED = {
    "wrong-host": lambda ca: ca.issue_cert("other.test"),
    "expired": lambda ca: expired(ca, "api.test"),
    "untrusted-ca": lambda ca: trustme.CA().issue_cert("api.test"),
    "ip-san-for-a-name": lambda ca: ca.issue_cert("127.0.0.1"),
}


@pytest.mark.parametrize("name", list(REFUSED))
async def test_a_bad_certificate_is_refused(
    make_client: MakeClient,
    start_server: StartServer,
    resolver: Resolver,
    ca: trustme.CA,
    name: str,
) -> None:
    server = start_server(answering(), ssl_context=server_context(REFUSED[name](ca)))
    with pytest.raises(httpx.ConnectError):
        await make_client(verify=trusting(ca)).get(server.url("/tasks/t1", host="api.test"))
    assert server.requests == []


@pytest.mark.parametrize("identity", ["127.0.0.2", "localhost", "::1"])
async def test_an_ip_san_mismatch_is_refused(
    make_client: MakeClient, start_server: StartServer, ca: trustme.CA, identity: str
) -> None:
    server = start_server(answering(), ssl_context=server_context(ca.issue_cert(identity)))
    with pytest.raises(httpx.ConnectError):
        await make_client(verify=trusting(ca)).get(server.url("/tasks/t1"))
    assert server.requests == []


async def test_a_certificate_is_checked_against_the_idna_2008_name(
    make_client: MakeClient, start_server: StartServer, resolver: Resolver, ca: trustme.CA
) -> None:
    seen = Seen()
    ours = start_server(
        answering(), ssl_context=server_context(ca.issue_cert("xn--fa-hia.test"), seen)
    )
    client = make_client(verify=trusting(ca))
    assert (await client.get(ours.url("/tasks/t1", host="faß.test"))).json()["id"] == "t1"
    assert seen.sni == ["xn--fa-hia.test"]
    # A certificate for fass.test (faß.test under IDNA 2003) is some other site's.
    theirs = start_server(answering(), ssl_context=server_context(ca.issue_cert("fass.test")))
    with pytest.raises(httpx.ConnectError):
        await make_client(verify=trusting(ca)).get(theirs.url("/tasks/t1", host="faß.test"))
    assert theirs.requests == []
    assert "fass.test" not in resolver.asked


# Trust from the environment, through the clients (their transport uses the default trust).


@pytest.fixture
def ca_file(tmp_path: Path, ca: trustme.CA) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def ca_dir(tmp_path: Path, ca_file: Path) -> Path:
    """A directory of CA certificates as OpenSSL looks them up: by subject hash."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to name a certificate directory's files")
    subject_hash = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", str(ca_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    folder = tmp_path / "certs"
    folder.mkdir()
    shutil.copy(ca_file, folder / f"{subject_hash}.0")
    return folder


async def test_trust_from_ssl_cert_file(
    make_api: MakeApi,
    start_server: StartServer,
    resolver: Resolver,
    ca: trustme.CA,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = start_server(answering(), ssl_context=server_context(ca.issue_cert("api.test")))
    base = server.url("", host="api.test")
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(APIConnectionError):
        await make_api(base).get_task()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    assert (await make_api(base).get_task()).id == "t1"


async def test_trust_from_ssl_cert_dir(
    make_api: MakeApi,
    start_server: StartServer,
    resolver: Resolver,
    ca: trustme.CA,
    ca_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = start_server(answering(), ssl_context=server_context(ca.issue_cert("api.test")))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(ca_dir))
    assert (await make_api(server.url("", host="api.test")).get_task()).id == "t1"


async def test_the_clients_refuse_a_certificate_for_another_name(
    make_api: MakeApi,
    start_server: StartServer,
    resolver: Resolver,
    ca: trustme.CA,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = start_server(answering(), ssl_context=server_context(ca.issue_cert("other.test")))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    with pytest.raises(APIConnectionError):
        await make_api(server.url("", host="api.test")).get_task()
    assert server.requests == []
