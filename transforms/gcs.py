"""Cloud Storage through its own client, where Beam's filesystem falls short: listing one level
or one prefix page by page with each object's generation, and reading an object in one request
(Beam's `open` asks for the object's metadata first), with the client's credentials and settings
over a leaner transport (transforms/gcs_read.py).

The client is the one Beam's GCS filesystem builds (same credentials, same project), one per
thread and endpoint: `STORAGE_EMULATOR_HOST`, which the client library honours, picks another
endpoint. Its session reads the environment's proxy settings once (`settle_environment`). Every
retried request is counted in the job's `storage_retries` counter.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from transforms import fingerprint, gcs_read
from transforms.counters import count
from transforms.records import MatchedFile

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

SCHEME = "gs://"
RETRIES_COUNTER = "storage_retries"
# Objects per list request, the most the JSON API returns.
PAGE_SIZE = 1000

_local = threading.local()
T = TypeVar("T")


def is_gcs(uri: str) -> bool:
    return uri.startswith(SCHEME)


def split(uri: str) -> tuple[str, str]:
    """gs://BUCKET/NAME -> (BUCKET, NAME); NAME may be empty."""
    bucket, _, name = uri[len(SCHEME) :].partition("/")
    return bucket, name


def _this_thread(kind: str, make: Callable[[], T]) -> T:
    """This thread's `kind` for the configured endpoint, made on first use."""
    endpoint = os.environ.get("STORAGE_EMULATOR_HOST", "")
    made = _local.__dict__.setdefault(kind, {})
    if endpoint not in made:
        made[endpoint] = make()
    return made[endpoint]


def client():
    """This thread's storage client for the configured endpoint."""
    return _this_thread("clients", _new_client)


def _new_client():
    from apache_beam.io.gcp.gcsio import GcsIO

    storage_client = GcsIO().client
    session = storage_client._http  # noqa: SLF001 - the client's requests session
    settle_environment(session, storage_client.api_endpoint)
    return storage_client


def settle_environment(session: requests.Session, url: str) -> None:
    """Makes a requests session use the proxies and CA bundle the environment names for `url`,
    read now, instead of reading the environment again on every request: that lookup took 0.13
    to 0.34 ms of CPU, holding the GIL, of the client's 1.5 to 1.6 ms per object read here
    (benchmarks/storage_read.py), and a job's environment does not change while it runs. The
    session also stops looking for a ~/.netrc entry, whose password would replace the client's
    token."""
    settings = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies = dict(settings["proxies"])
    session.verify = settings["verify"]
    session.trust_env = False


def _on_retry(exc: Exception) -> None:
    count(RETRIES_COUNTER)
    logger.info("Retrying a Cloud Storage request after %s: %s", type(exc).__name__, exc)


def _retry():
    """The client's default retry policy (5xx, 429, dropped connections), counted."""
    from google.api_core.retry import Retry
    from google.cloud.storage.retry import DEFAULT_RETRY

    return Retry(
        predicate=DEFAULT_RETRY._predicate,  # noqa: SLF001 - the client's own choice of errors
        initial=1.0,
        maximum=32.0,
        multiplier=2.0,
        timeout=300.0,
        on_error=_on_retry,
    )


def list_level(bucket: str, prefix: str, recursive: bool) -> Iterator[MatchedFile | str]:
    """Objects under `prefix`, page by page. With `recursive` False, only those directly under it,
    and each sub-prefix (`prefix/sub/`) as a str, once, after the objects of its page."""
    pages = (
        client()
        .list_blobs(
            bucket,
            prefix=prefix or None,
            delimiter=None if recursive else "/",
            page_size=PAGE_SIZE,
            retry=_retry(),
        )
        .pages
    )
    for page in pages:
        for blob in page:
            yield MatchedFile(
                f"{SCHEME}{bucket}/{blob.name}",
                fingerprint.make(
                    blob.size,
                    blob.updated.timestamp() if blob.updated else None,
                    blob.generation,
                ),
            )
        if not recursive:
            yield from sorted(page.prefixes)


def reader() -> gcs_read.ObjectReader | None:
    """This thread's object reader for the configured endpoint (transforms/gcs_read.py), or None
    where the client's session needs its own transport."""
    return _this_thread("readers", _new_reader)


def _new_reader() -> gcs_read.ObjectReader | None:
    return gcs_read.for_client(client())


def read_object(uri: str) -> bytes:
    """The whole object, in one request; errors are raised for the caller to retry or report.
    Sent through urllib3 with the client's credentials and settings where it can be
    (transforms/gcs_read.py), else through the client. The checksum is checked either way, and
    a body cut short raises."""
    bucket, name = split(uri)
    lean = reader()
    if lean is not None:
        return lean.read(bucket, name)
    return read_through_client(bucket, name)


def read_through_client(bucket: str, name: str) -> bytes:
    """The object through this thread's client, its body read in one piece: the client would
    read it 8 KiB at a time, each piece a round of Python that hands the GIL back and takes it
    again (1.34 instead of 2.20 ms of CPU per 570 KB object on the emulator,
    benchmarks/storage_read.py)."""
    blob = client().bucket(bucket).blob(name)
    return blob.download_as_bytes(retry=None, single_shot_download=True)
