"""Reading an object over urllib3 with the storage client's settings (transforms/gcs_read.py):
the same request and the same bytes as the client, its checks and errors, against the storage
emulator; which environments it leaves to the client."""

from __future__ import annotations

import base64
import gzip
import hashlib

import google_crc32c
import pytest
import urllib3
from google.api_core.exceptions import NotFound, Unauthorized
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption

from tests import emulators, storage_proxy
from tests.buckets import gcs, new_bucket
from transforms import gcs as job_gcs
from transforms import gcs_read
from transforms.reasons import NOT_FOUND, PERMISSION_DENIED, classify

# Names that a URL must quote: a space, a "/" that is part of the name, "#", "?", "%", "~",
# letters outside ASCII.
AWKWARD_NAMES = ["plain.jpg", "a b/c d.jpg", "x#y?z%20.jpg", "tilde~/ünïcødé.jpg"]


@pytest.fixture(scope="module")
def storage_env(tmp_path_factory):
    with emulators.cloud_storage(str(tmp_path_factory.mktemp("storage"))) as env:
        yield env


def client_read(uri: str) -> bytes:
    """The object as the job reads it where the reader leaves it to the client."""
    return job_gcs.read_through_client(*job_gcs.split(uri))


def test_the_same_request_and_bytes_as_the_client(storage_env):
    bucket = new_bucket()
    uris = []
    for index, name in enumerate(AWKWARD_NAMES):
        gcs().bucket(bucket).blob(name).upload_from_string(bytes([index]) * (1000 + index))
        uris.append(f"gs://{bucket}/{name}")
    target = storage_env["STORAGE_EMULATOR_HOST"]
    with (
        storage_proxy.running(target) as (url, proxy),
        emulators.environment(STORAGE_EMULATOR_HOST=url),
    ):
        # A new endpoint: this thread makes a client and a reader for it.
        assert isinstance(job_gcs.reader(), gcs_read.ObjectReader)
        reads = [(job_gcs.read_object(uri), client_read(uri)) for uri in uris]
    for index, (ours, theirs) in enumerate(reads):
        assert ours == theirs == bytes([index]) * (1000 + index)
    # Each object asked for twice with the same path and query: once by each.
    downloads = [(request.path, request.query) for request in proxy.requests if request.is_download]
    assert len(downloads) == 2 * len(uris)
    assert downloads[0::2] == downloads[1::2]


def test_a_missing_object_is_the_clients_not_found(storage_env):
    bucket = new_bucket()
    with pytest.raises(NotFound) as raised:
        job_gcs.read_object(f"gs://{bucket}/nowhere.jpg")
    assert classify("read", raised.value) == NOT_FOUND
    assert "nowhere.jpg" in str(raised.value)


def test_an_object_stored_gzip_encoded_is_read_as_its_content(storage_env):
    """Cloud Storage sends such an object as stored to a client that accepts gzip; the reader,
    as the client, checks the stored bytes and hands back what they encode."""
    bucket, name = new_bucket(), "stored-gzip.jpg"
    content = bytes(range(256)) * 40
    gcs().bucket(bucket).blob(name).upload_from_string(gzip.compress(content))
    uri = f"gs://{bucket}/{name}"
    target = storage_env["STORAGE_EMULATOR_HOST"]
    with (
        storage_proxy.running(target) as (url, proxy),
        emulators.environment(STORAGE_EMULATOR_HOST=url),
    ):
        proxy.gzip_stored.add(f"/download/storage/v1/b/{bucket}/o/{name}")
        ours, theirs = job_gcs.read_object(uri), client_read(uri)
    assert ours == theirs == content


class RenewedToken(Credentials):
    """A token that each refresh replaces; where it comes from is no part of what is tested."""

    def __init__(self):
        super().__init__()
        self.token, self.refreshes = "first", 0

    def refresh(self, request) -> None:
        self.refreshes += 1
        self.token = f"renewed-{self.refreshes}"


def test_a_refused_token_is_renewed_once(storage_env):
    bucket = new_bucket()
    gcs().bucket(bucket).blob("a.jpg").upload_from_string(b"bytes of a")
    target = storage_env["STORAGE_EMULATOR_HOST"]
    with storage_proxy.running(target) as (url, proxy):
        credentials = RenewedToken()
        reader = gcs_read.ObjectReader(urllib3.PoolManager(), credentials, url, {})
        proxy.refused_tokens.add("first")
        assert reader.read(bucket, "a.jpg") == b"bytes of a"
        assert credentials.refreshes == 1
        # A renewed token refused as well is the store's answer: the caller's to report.
        proxy.refused_tokens.update({"renewed-1", "renewed-2"})
        with pytest.raises(Unauthorized) as raised:
            reader.read(bucket, "a.jpg")
    assert credentials.refreshes == 2
    assert classify("read", raised.value) == PERMISSION_DENIED
    assert sum(request.is_download for request in proxy.requests) == 4


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_the_body_is_checked_against_the_stores_checksums():
    body = b"an image's bytes"
    crc32c = b64(google_crc32c.Checksum(body).digest())
    md5 = b64(hashlib.md5(body).digest())
    gcs_read.check_hash(body, f"crc32c={crc32c},md5={md5}", "url")
    gcs_read.check_hash(body, f"md5={md5}", "url")
    gcs_read.check_hash(body, "", "url")  # no checksum sent: nothing to check against
    damaged = b"an image's bytez"
    with pytest.raises(DataCorruption, match="crc32c"):
        gcs_read.check_hash(damaged, f"crc32c={crc32c},md5={md5}", "url")
    with pytest.raises(DataCorruption, match="md5"):
        gcs_read.check_hash(damaged, f"md5={md5}", "url")


def test_errors_are_the_clients_types_with_the_stores_message():
    error = gcs_read.http_error(503, b'{"error": {"code": 503, "message": "Backend busy"}}', "u")
    assert type(error).__name__ == "ServiceUnavailable"
    assert "Backend busy" in str(error)
    assert type(gcs_read.http_error(429, b"", "u")).__name__ == "TooManyRequests"
    assert "not json" in str(gcs_read.http_error(403, b"not json", "u"))


def settled_client(monkeypatch, **environment: str) -> storage.Client:
    """A client for a remote endpoint whose session has read `environment` (no request made)."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    client = storage.Client(
        project="test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": "https://storage.example"},
        extra_headers={"x-goog-custom-audit-job": "nightly"},
    )
    job_gcs.settle_environment(client._http, client.api_endpoint)  # noqa: SLF001
    return client


def test_the_environments_proxy_and_ca_bundle_are_kept(monkeypatch, tmp_path):
    bundle = tmp_path / "company-ca.pem"
    bundle.write_text("")
    client = settled_client(
        monkeypatch,
        HTTPS_PROXY="http://user:s%40cret@proxy.example:3128",
        REQUESTS_CA_BUNDLE=str(bundle),
    )
    reader = gcs_read.for_client(client)
    manager = reader._pool  # noqa: SLF001
    assert manager.proxy.host == "proxy.example" and manager.proxy.port == 3128
    expected = "Basic " + base64.b64encode(b"user:s@cret").decode()
    assert manager.proxy_headers["proxy-authorization"] == expected
    assert manager.connection_pool_kw["ca_certs"] == str(bundle)
    assert reader._headers["x-goog-custom-audit-job"] == "nightly"  # noqa: SLF001
    # A folder of certificates, as requests reads one; no proxy where NO_PROXY says so.
    exempt = settled_client(
        monkeypatch, NO_PROXY="storage.example", REQUESTS_CA_BUNDLE=str(tmp_path)
    )
    manager = gcs_read.for_client(exempt)._pool  # noqa: SLF001
    assert getattr(manager, "proxy", None) is None
    assert manager.connection_pool_kw["ca_cert_dir"] == str(tmp_path)


def test_what_only_the_clients_own_transport_does_is_left_to_it(monkeypatch):
    socks = settled_client(monkeypatch, HTTPS_PROXY="socks5://proxy.example:1080")
    assert gcs_read.for_client(socks) is None
    with_certificate = settled_client(monkeypatch)
    with_certificate._http.cert = ("client.pem", "client.key")  # noqa: SLF001
    assert gcs_read.for_client(with_certificate) is None
