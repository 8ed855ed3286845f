"""Byte-for-byte file access on any Beam filesystem, with retries for transient errors; gs://
objects are read through the storage client, in one request each (transforms/gcs.py), and local
files with the fewest system calls."""

from __future__ import annotations

import errno
import logging
import os
import stat
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils import retry

from transforms import gcs
from transforms.counters import count

logger = logging.getLogger(__name__)

READ_RETRIES = 4  # after the first try; delays of about 1, 2, 4 and 8 seconds
FIRST_RETRY_DELAY_SECONDS = 1.0

# Exception classes (matched anywhere in an exception's class hierarchy, by name, so that no
# client library has to be imported here) that say "try again": server errors (5xx), throttling
# (429), request timeouts (408), dropped or timed-out connections, damaged downloads.
_TRANSIENT = frozenset(
    {
        "ServerError",  # google.api_core: every 5xx
        "TooManyRequests",
        "RequestTimeout",
        "ConnectionError",  # builtins (reset, refused, aborted) and requests
        "TimeoutError",
        "Timeout",  # requests
        "ChunkedEncodingError",
        "ProtocolError",  # urllib3
        "IncompleteRead",
        "RemoteDisconnected",
        # A download whose bytes do not match the checksum the store sent with them: damaged in
        # flight, since Cloud Storage checks every object's checksum when it is written.
        "DataCorruption",
    }
)


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying; not found, permission and malformed requests are final."""
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return False
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _TRANSIENT:
        return True
    code = getattr(exc, "code", None)
    return isinstance(code, int) and (code >= 500 or code in (408, 429))


def open_raw(uri: str) -> BinaryIO:
    """Opens for reading without decompressing by extension (an image named .gz stays bytes)."""
    return FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)


def _on_retry(message: str, *args) -> None:
    count(gcs.RETRIES_COUNTER)
    logger.info(message, *args)


@retry.with_exponential_backoff(
    num_retries=READ_RETRIES,
    initial_delay_secs=FIRST_RETRY_DELAY_SECONDS,
    retry_filter=is_transient,
    logger=_on_retry,
)
def read_bytes(uri: str) -> bytes:
    """The whole file; transient errors are retried with exponential backoff (and counted in
    `storage_retries`), others raised."""
    if gcs.is_gcs(uri):
        return gcs.read_object(uri)
    if FileSystems.get_scheme(uri) is None:
        return read_local(uri)
    with open_raw(uri) as handle:
        return handle.read()


def read_local(path: str) -> bytes:
    """A local file in four system calls (open, fstat, read, close), where Python's buffered
    file takes nine; each hands the GIL back and takes it again, waiting for any thread that
    holds it meanwhile. In the command over 640x480 JPEGs, a worker thread's own work beyond
    decoding fell from 484 to 444 us per image and its decoding share rose from 0.863 to 0.874
    (benchmarks/worker_time.py --tree, medians of 6)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        status = os.fstat(fd)
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        data = os.read(fd, status.st_size + 1)
        if len(data) == status.st_size:
            return data
        # A short read, a file that grew since fstat, or one that gives no size (as some special
        # files do): read on to the end.
        parts = [data]
        while part := os.read(fd, 2**20):
            parts.append(part)
        return b"".join(parts)
    finally:
        os.close(fd)
