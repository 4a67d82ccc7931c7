"""HTTPS: a server started with a certificate serves the API over TLS; the CLI, the SDK
and the server's own jobs verify it; a client that does not trust it is told so."""

from __future__ import annotations

import datetime
import ipaddress

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fermion.client import Client
from fermion.errors import ServerUnavailable
from fermion.settings import Settings
from tests.conftest import start_server, stop_server
from tests.scheduler.conftest import script


def self_signed(folder):
    """A certificate for 127.0.0.1 and localhost, signed by its own key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fermion test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    running = start_server(
        tmp_path_factory.mktemp("tls-home"),
        FERMION_TLS_CERT=str(cert),
        FERMION_TLS_KEY=str(key),
        FERMION_CAPACITY="cpu=2,memory=4Gi",
    )
    yield running
    stop_server(running)


def test_the_api_is_served_over_https_and_verified(tls_server):
    assert tls_server.settings.server_url.startswith("https://127.0.0.1:")
    with tls_server.client() as sdk:
        assert sdk.me().name == "admin"
    with pytest.raises(httpx.HTTPError):  # no plain HTTP on that port
        httpx.get(f"http://127.0.0.1:{tls_server.port}/healthz", timeout=5)


def test_a_client_that_does_not_trust_it_is_told_how_to(tls_server, tmp_path):
    stranger = Settings(home=tmp_path / "stranger", url=tls_server.settings.server_url)
    with (
        Client(settings=stranger, autostart=False, token=tls_server.token) as sdk,
        pytest.raises(ServerUnavailable, match="FERMION_CA_BUNDLE"),
    ):
        sdk.me()


def test_a_job_reports_to_the_server_over_https(tls_server, tmp_path):
    folder = script(
        tmp_path / "job",
        """
        import fermion as fm
        fm.log({"loss": 0.5}, step=1)
        """,
    )
    with tls_server.client() as sdk:
        job = sdk.submit_job(["python", "job.py"], cpu=0.5, workdir=folder)
        done = sdk.wait_job(job.id, timeout=120)
        assert done.status.value == "succeeded", sdk.job_logs(job.id)
        assert sdk.job_metrics(job.id).series["loss"][0].value == 0.5
