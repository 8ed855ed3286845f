"""Real Cloud Storage and BigQuery protocol emulators on 127.0.0.1, started by the tests.

gcp-storage-emulator serves the GCS JSON API from a folder on disk; bqemulator (DuckDB) serves
BigQuery's REST API and reads load-job files from that same folder. Clients are pointed at them
with environment variables only, plus one shim for the endpoint Beam's apitools BigQuery client
hard-codes (see `bigquery_shim`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

PROJECT = "test"
# DuckDB's extensions that bqemulator needs, shipped in wheels instead of downloaded.
DUCKDB_VERSION = "v1.5.5"

# What an application-default credentials file needs to look like for google.auth to accept it
# without any network call; the emulators ignore credentials.
DUMMY_CREDENTIALS = {
    "type": "authorized_user",
    "client_id": "x",
    "client_secret": "x",
    "refresh_token": "x",
    "token": "x",
    "expiry": "2099-01-01T00:00:00Z",
    "quota_project_id": PROJECT,
}

SITECUSTOMIZE = """\
import os

_url = os.environ.get("TEST_BIGQUERY_APITOOLS_URL")
if _url:
    from apache_beam.io.gcp.internal.clients.bigquery import bigquery_v2_client

    bigquery_v2_client.BigqueryV2.BASE_URL = _url
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, log: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited with {process.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error status: the server is up
                return
            time.sleep(0.2)
    raise TimeoutError(f"emulator not ready at {url} after {timeout} s: {_tail(log)}")


def _tail(log: str) -> str:
    with open(log, encoding="utf-8", errors="replace") as handle:
        return handle.read()[-2000:]


def _binary(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def link_extensions() -> None:
    """Puts DuckDB's extensions where bqemulator installs them from: spatial, which it loads at
    start, and avro, which its load jobs of Avro files need."""
    import duckdb_extension_avro
    import duckdb_extension_spatial

    folder = os.path.expanduser(f"~/.duckdb/extensions/{DUCKDB_VERSION}/linux_amd64")
    os.makedirs(folder, exist_ok=True)
    for name, package in (("spatial", duckdb_extension_spatial), ("avro", duckdb_extension_avro)):
        file = f"{name}.duckdb_extension"
        source = os.path.join(os.path.dirname(package.__file__), "extensions", DUCKDB_VERSION, file)
        target = os.path.join(folder, file)
        if not os.path.exists(target):
            shutil.copyfile(source, target)


@contextlib.contextmanager
def _process(args: list[str], log: str, env: dict[str, str] | None = None):
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def storage(data_dir: str) -> Iterator[str]:
    """Runs gcp-storage-emulator on `data_dir`; yields its URL."""
    port = free_port()
    log = os.path.join(os.path.dirname(data_dir), "storage-emulator.log")
    args = [
        _binary("gcp-storage-emulator"),
        "-d",
        data_dir,
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with _process(args, log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/storage/v1/b", process, log)
        yield url


@contextlib.contextmanager
def bigquery(data_dir: str) -> Iterator[str]:
    """Runs bqemulator, reading load files from the storage emulator's `data_dir`; yields its
    REST URL."""
    link_extensions()
    rest, grpc = free_port(), free_port()
    log = os.path.join(os.path.dirname(data_dir), "bigquery-emulator.log")
    env = dict(os.environ, BQEMU_GCS_LOCAL_ROOT=os.path.join(data_dir, ".cloudstorage"))
    args = [
        _binary("bqemulator"),
        "start",
        "--rest-port",
        str(rest),
        "--grpc-port",
        str(grpc),
        "--ephemeral",
        "--project",
        PROJECT,
    ]
    with _process(args, log, env) as process:
        url = f"http://127.0.0.1:{rest}"
        wait_for(f"{url}/bigquery/v2/projects/{PROJECT}/datasets", process, log)
        yield url


@contextlib.contextmanager
def bigquery_shim(url: str, folder: str) -> Iterator[None]:
    """Points Beam's apitools BigQuery client, whose endpoint is a class attribute, at `url`:
    here by setting the attribute, in worker processes by a sitecustomize on PYTHONPATH."""
    from apache_beam.io.gcp.internal.clients.bigquery import bigquery_v2_client

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "sitecustomize.py"), "w") as handle:
        handle.write(SITECUSTOMIZE)
    apitools_url = f"{url}/bigquery/v2/"
    saved = bigquery_v2_client.BigqueryV2.BASE_URL
    bigquery_v2_client.BigqueryV2.BASE_URL = apitools_url
    python_path = os.pathsep.join(filter(None, [folder, os.environ.get("PYTHONPATH")]))
    with environment(TEST_BIGQUERY_APITOOLS_URL=apitools_url, PYTHONPATH=python_path):
        try:
            yield
        finally:
            bigquery_v2_client.BigqueryV2.BASE_URL = saved


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _credentials(folder: str) -> dict[str, str]:
    """The environment that lets Google's clients start without any network call."""
    credentials = os.path.join(folder, "credentials.json")
    with open(credentials, "w") as handle:
        json.dump(DUMMY_CREDENTIALS, handle)
    return {"GOOGLE_APPLICATION_CREDENTIALS": credentials, "GOOGLE_CLOUD_PROJECT": PROJECT}


@contextlib.contextmanager
def cloud(folder: str) -> Iterator[dict[str, str]]:
    """Both emulators, and the environment that points every client at them."""
    data_dir = os.path.join(folder, "gcs")
    os.makedirs(data_dir, exist_ok=True)
    with storage(data_dir) as gcs_url, bigquery(data_dir) as bq_url:
        env = {
            "STORAGE_EMULATOR_HOST": gcs_url,
            "BIGQUERY_EMULATOR_HOST": bq_url,
            **_credentials(folder),
        }
        with environment(**env), bigquery_shim(bq_url, os.path.join(folder, "shim")):
            yield env


@contextlib.contextmanager
def cloud_storage(folder: str) -> Iterator[dict[str, str]]:
    """The storage emulator alone, and the environment that points clients at it."""
    data_dir = os.path.join(folder, "gcs")
    os.makedirs(data_dir, exist_ok=True)
    with storage(data_dir) as gcs_url:
        env = {"STORAGE_EMULATOR_HOST": gcs_url, **_credentials(folder)}
        with environment(**env):
            yield env
