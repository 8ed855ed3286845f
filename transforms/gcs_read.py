"""Reading a Cloud Storage object in one GET through urllib3, with the storage client's own
credentials, endpoint, headers, proxy and CA bundle.

The client's own path (its blob and download layers, then a `requests` session, then urllib3)
cost 1.09 ms of CPU per 72 KB object on the emulator, this one 0.55, and held the GIL 1.42
against 0.63 ms under py-spy (benchmarks/storage_read.py --gil, medians of 8): Python that holds
the GIL in the thread that decodes, and on Dataflow every image is read this way. What the
client checks is checked here too: the body's declared length (urllib3), the body's CRC32C (or
MD5) against the store's `x-goog-hash` over the bytes as sent (an object stored gzip-encoded is
sent as stored and decompressed here, as the client does), and errors are raised as the
client's exception types.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import urllib.parse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import google.auth.credentials
    import urllib3
    from google.cloud import storage

# The storage client's default, for connecting and for each read of the socket.
TIMEOUT_SECONDS = 60.0
HASH_HEADER = "x-goog-hash"


class ObjectReader:
    """GETs whole objects; one per thread, as its connection pool is the thread's own."""

    def __init__(
        self,
        pool: urllib3.PoolManager,
        credentials: google.auth.credentials.Credentials,
        base_url: str,
        headers: dict[str, str],
    ):
        import urllib3
        from google.auth.transport.requests import Request

        self._pool = pool
        self._credentials = credentials
        # Tokens are fetched and refreshed through a requests session of their own that reads
        # the environment, as the client's session fetches them: not through the proxy chosen
        # for the storage endpoint, which the metadata server may not be reachable through.
        self._token_request = Request()
        self._base_url = base_url.rstrip("/")
        self._headers = headers
        self._timeout = urllib3.Timeout(connect=TIMEOUT_SECONDS, read=TIMEOUT_SECONDS)

    def read(self, bucket: str, name: str) -> bytes:
        """The object's bytes; raises the client's errors (NotFound, ServiceUnavailable, ...,
        DataCorruption) and urllib3's (a dropped connection, a body cut short)."""
        # As the client builds it: the bucket as it is, the name with every "/" quoted.
        url = (
            f"{self._base_url}/download/storage/v1/b/{bucket}/o/"
            f"{urllib.parse.quote(name, safe='~')}?alt=media"
        )
        response = self._get(url)
        if response.status == 401:
            # A token the store no longer takes (revoked before it expired): refreshed, and the
            # request tried once more, as the client's session would.
            self._credentials.refresh(self._token_request)
            response = self._get(url)
        if response.status != 200:
            raise http_error(response.status, response.data, url)
        body = response.data
        check_hash(body, response.headers.get(HASH_HEADER, ""), url)
        if response.headers.get("content-encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        return body

    def _get(self, url: str) -> urllib3.BaseHTTPResponse:
        headers = dict(self._headers)
        # Adds the token (fetching one first where it has none or it has expired).
        self._credentials.before_request(self._token_request, "GET", url, headers)
        return self._pool.request(
            "GET",
            url,
            headers=headers,
            timeout=self._timeout,
            retries=False,  # the caller retries, with backoff, and counts
            preload_content=True,
            enforce_content_length=True,  # a body cut short raises (ProtocolError)
            decode_content=False,  # the checksum is over the bytes as stored
        )


def check_hash(body: bytes, hashes: str, url: str) -> None:
    """Raises DataCorruption where `body` does not match the CRC32C (or, without one, the MD5)
    that the store sent with it; a response with neither is taken as it is, as the client
    takes it."""
    expected = dict(part.strip().split("=", 1) for part in hashes.split(",") if "=" in part)
    if "crc32c" in expected:
        import google_crc32c

        kind, actual = "crc32c", google_crc32c.Checksum(body).digest()
    elif "md5" in expected:
        kind, actual = "md5", hashlib.md5(body).digest()  # noqa: S324 - the store's checksum
    else:
        return
    actual_text = base64.b64encode(actual).decode("ascii")
    if actual_text != expected[kind]:
        from google.cloud.storage.exceptions import DataCorruption

        raise DataCorruption(
            None,
            f"Checksum mismatch while downloading {url}: the store sent {kind} "
            f"{expected[kind]}, the {len(body)} bytes received have {actual_text}",
        )


def http_error(status: int, body: bytes, url: str) -> Exception:
    """The client's exception for an error status (404 NotFound, 503 ServiceUnavailable, ...),
    with the store's own message where its body has one."""
    from google.api_core.exceptions import from_http_status

    text = body.decode("utf-8", "replace")
    try:
        message = json.loads(text)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = text.strip()[:500]
    return from_http_status(status, f"GET {url}: {message}")


def for_client(client: storage.Client) -> ObjectReader | None:
    """A reader that sends what `client` would send, where it would send it; None where the
    client's session does what only its own transport does: a client certificate (mutual TLS)
    or a proxy other than HTTP(S) (SOCKS)."""
    import requests.utils
    import urllib3

    session = client._http  # noqa: SLF001 - the client's authorized requests session
    if getattr(session, "is_mtls", False) or session.cert:
        return None
    base_url = client._connection.API_BASE_URL  # noqa: SLF001 - honours the emulator's host
    settings = tls_settings(session.verify)
    proxy = requests.utils.select_proxy(base_url, session.proxies)
    if proxy:
        # As requests makes its proxy manager: a scheme where none is given, the proxy's
        # credentials (if the URL has them) in a Proxy-Authorization header.
        proxy = requests.utils.prepend_scheme_if_needed(proxy, "http")
        if urllib.parse.urlsplit(proxy).scheme not in ("http", "https"):
            return None
        user, password = requests.utils.get_auth_from_url(proxy)
        if user:
            settings["proxy_headers"] = urllib3.make_headers(proxy_basic_auth=f"{user}:{password}")
        manager = urllib3.ProxyManager(proxy, **settings)
    else:
        manager = urllib3.PoolManager(**settings)
    user_agent = client._connection.user_agent  # noqa: SLF001
    headers = {
        "User-Agent": user_agent,
        "x-goog-api-client": user_agent,
        "accept-encoding": "gzip",
        **getattr(client, "_extra_headers", {}),  # Beam's audit entries, for one
    }
    return ObjectReader(manager, session.credentials, base_url, headers)


def tls_settings(verify: bool | str) -> dict:
    """urllib3's certificate settings for what a requests session's `verify` says, as requests
    reads it: True, requests' own CA bundle; a file or a folder, those; False, none."""
    if verify is False:
        return {"cert_reqs": "CERT_NONE"}
    if verify is True:
        import requests.certs

        return {"cert_reqs": "CERT_REQUIRED", "ca_certs": requests.certs.where()}
    location = "ca_cert_dir" if os.path.isdir(verify) else "ca_certs"
    return {"cert_reqs": "CERT_REQUIRED", location: verify}
