"""A proxy between the job and the storage emulator: it records every request, and can answer
some of them the way a busy Cloud Storage does (503, 429), drop their connection, cut a
download short (the whole object's length promised, half of it sent, the connection closed), or
damage a download in flight (one byte of the body changed, the checksum header as it was).
Clients reach it as the emulator's address or as the HTTP proxy their environment names.

It can also serve an object as Cloud Storage serves one stored gzip-encoded, which the emulator
does not: to a client that accepts gzip, the stored bytes with `Content-Encoding: gzip`; to one
that does not, the bytes decompressed. The checksum header describes the stored bytes either way.
And it can refuse the bearer tokens it is told to, as Cloud Storage refuses a revoked one (401).

Faults are chosen per request, not by chance: a request (method, path and query) is faulted on
its first attempt when a hash of it falls in the chosen fraction, and passed through when it is
tried again. Every request therefore succeeds once retried. The kinds of fault take turns,
downloads' and other requests' each in their own rotation, so every kind occurs once as many
requests of its rotation are faulted as it has kinds.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import threading
import urllib.parse
import zlib
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

FAULTS = ("503", "429", "drop")
SHORT = "short"
CORRUPT = "corrupt"
DOWNLOAD_FAULTS = (*FAULTS, SHORT, CORRUPT)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "host"}


class Request(NamedTuple):
    method: str
    path: str
    query: dict[str, list[str]]
    fault: str | None

    @property
    def is_metadata(self) -> bool:
        """An object's metadata asked for by name (not a listing, not a download)."""
        parts = self.path.split("/")
        object_get = len(parts) == 7 and parts[1:4] == ["storage", "v1", "b"] and parts[5] == "o"
        return self.method == "GET" and object_get and self.query.get("alt") != ["media"]

    @property
    def is_download(self) -> bool:
        return is_download(self.method, self.query)

    @property
    def is_listing(self) -> bool:
        return self.method == "GET" and self.path.rstrip("/").endswith("/o")


def is_download(method: str, query: dict[str, list[str]]) -> bool:
    return method == "GET" and query.get("alt") == ["media"]


class Proxy:
    def __init__(self, target: str, fault_fraction: float = 0.0, faulted_paths: str = "/"):
        self.target = urllib.parse.urlsplit(target)
        self.fault_fraction = fault_fraction
        self.faulted_paths = faulted_paths
        self.requests: list[Request] = []
        # Download paths (as requested, before the query) of objects stored gzip-encoded.
        self.gzip_stored: set[str] = set()
        # Bearer tokens answered 401, as Cloud Storage answers one revoked or expired.
        self.refused_tokens: set[str] = set()
        self._attempts: Counter[str] = Counter()
        self._turns: Counter[bool] = Counter()  # faults so far, by whether they were downloads
        self._lock = threading.Lock()

    def choose_fault(self, method: str, url: str) -> str | None:
        key = f"{method} {url}"
        with self._lock:
            self._attempts[key] += 1
            first = self._attempts[key] == 1
        if not first or not url.startswith(self.faulted_paths):
            return None
        digest = zlib.crc32(key.encode())
        if (digest % 1000) >= self.fault_fraction * 1000:
            return None
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        download = is_download(method, query)
        kinds = DOWNLOAD_FAULTS if download else FAULTS
        with self._lock:
            turn = self._turns[download]
            self._turns[download] += 1
        return kinds[turn % len(kinds)]

    def record(self, method: str, url: str, fault: str | None) -> None:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        with self._lock:
            self.requests.append(Request(method, parts.path, query, fault))

    def faults(self) -> Counter[str]:
        return Counter(request.fault for request in self.requests if request.fault)


def origin_form(target: str) -> str:
    """The path and query of a request's target: a client that takes this server for its HTTP
    proxy names the whole URL."""
    parts = urllib.parse.urlsplit(target)
    return urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))


def as_gzip_stored(stored: bytes, accept_encoding: str) -> tuple[bytes, dict[str, str]]:
    """The body and the added headers with which Cloud Storage serves an object stored
    gzip-encoded: as stored to a client that accepts gzip, else decompressed."""
    headers = {"x-goog-stored-content-encoding": "gzip"}
    if "gzip" in accept_encoding:
        return stored, {**headers, "Content-Encoding": "gzip"}
    return gzip.decompress(stored), headers


def _handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            fault = proxy.choose_fault(self.command, self.path)
            proxy.record(self.command, self.path, fault)
            if fault == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault in FAULTS:  # 503 or 429: a dropped connection has returned above
                self._answer_error(int(fault), "injected")
                return
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if token in proxy.refused_tokens:
                self._answer_error(401, "Invalid Credentials")
                return
            upstream = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(self.command, origin_form(self.path), body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            upstream.close()
            extra: dict[str, str] = {}
            if urllib.parse.urlsplit(self.path).path in proxy.gzip_stored:
                accepted = self.headers.get("Accept-Encoding", "")
                payload, extra = as_gzip_stored(payload, accepted)
            self.send_response(response.status, response.reason)
            for name, value in [*response.getheaders(), *extra.items()]:
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if fault == SHORT:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.close()
                return
            if fault == CORRUPT and payload:
                middle = len(payload) // 2
                payload = payload[:middle] + bytes([payload[middle] ^ 0xFF]) + payload[middle + 1 :]
            self.wfile.write(payload)

        def _answer_error(self, status: int, message: str) -> None:
            payload = b'{"error": {"code": %d, "message": "%s"}}' % (status, message.encode())
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward  # noqa: N815 - the API's names

    return Handler


@contextlib.contextmanager
def running(
    target: str, fault_fraction: float = 0.0, faulted_paths: str = "/"
) -> Iterator[tuple[str, Proxy]]:
    """A proxy to `target` on 127.0.0.1; yields (its URL, the Proxy with what it saw)."""
    proxy = Proxy(target, fault_fraction, faulted_paths)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", proxy
    finally:
        server.shutdown()
        server.server_close()
