"""Cloud Storage at scale, against the storage emulator: a glob listed in parallel, manifests
that state their versions, a server that fails some requests, and the proxy settings the
client reads once."""

from __future__ import annotations

import contextlib
import csv
import threading
from collections.abc import Iterator

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from tests import emulators, storage_proxy
from tests.buckets import gcs, new_bucket, upload_folder
from tests.job import MULTI_PROCESSING, read_embeddings, read_failures, read_summary, run_job
from transforms import gcs as gcs_client
from transforms.listing import ListFiles
from transforms.records import METRICS_NAMESPACE


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    with emulators.cloud_storage(str(tmp_path_factory.mktemp("storage"))) as env:
        yield env


@contextlib.contextmanager
def proxied(storage, fault_fraction: float = 0.0) -> Iterator[storage_proxy.Proxy]:
    """Points the job's clients at a proxy in front of the emulator (the tests' own clients
    keep talking to the emulator)."""
    target = storage["STORAGE_EMULATOR_HOST"]
    with (
        storage_proxy.running(target, fault_fraction) as (url, proxy),
        emulators.environment(STORAGE_EMULATOR_HOST=url),
    ):
        yield proxy


def fill(bucket: str, names: list[str]) -> list[str]:
    target = gcs().bucket(bucket)
    for name in names:
        target.blob(name).upload_from_string(name.encode())
    return [f"gs://{bucket}/{name}" for name in names]


def listed(patterns: list[str]) -> tuple[list[str], dict]:
    """(URIs ListFiles outputs, its listing metrics) on DirectRunner."""
    pipeline = beam.Pipeline(runner="DirectRunner")
    uris = pipeline | ListFiles(patterns) | beam.Map(lambda matched: matched.uri)
    expected = []
    for result in FileSystems.match(patterns):
        expected += [meta.path for meta in result.metadata_list if not meta.path.endswith("/")]
    assert_that(uris, equal_to(expected))
    result = pipeline.run()
    result.wait_until_finish()
    metrics = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    # Each listing step reports its own; add them up.
    values: dict = {}
    for metric in metrics["counters"]:
        name = metric.key.metric.name
        values[name] = values.get(name, 0) + metric.committed
    for metric in metrics["distributions"]:
        name, value = metric.key.metric.name, metric.committed
        values[f"{name}_max"] = max(values.get(f"{name}_max", 0), value.max)
        values[f"{name}_sum"] = values.get(f"{name}_sum", 0) + value.sum
    return expected, values


def test_a_glob_over_many_prefixes_is_listed_by_many_elements(storage):
    bucket = new_bucket()
    names = [
        f"photos/{year}/{month:02d}/{day:02d}.jpg"
        for year in (2024, 2025, 2026)
        for month in (1, 2, 3, 4)
        for day in (1, 2, 3)
    ]
    names += ["photos/cover.jpg", "photos/2026/notes.txt", "photos/2026/05/", "other/x.jpg"]
    fill(bucket, names)
    # Every file under a folder: what --input gs://BUCKET/photos becomes.
    expected, metrics = listed([f"gs://{bucket}/photos/**"])
    assert len(expected) == 38
    assert metrics["listing_elements"] > 1
    assert metrics["listing_entries_per_element_sum"] >= len(expected)
    # No element held the whole listing.
    assert metrics["listing_entries_per_element_max"] < len(expected)
    # Globs whose segments rule prefixes out, and one with a wildcard below a fixed part.
    for pattern in (
        f"gs://{bucket}/photos/*/0[12]/*.jpg",
        f"gs://{bucket}/photos/2026/**",
        f"gs://{bucket}/photos/*.jpg",
        f"gs://{bucket}/pho*/2025/**/02.jpg",
        f"gs://{bucket}/photos/2024/01/01.jpg",
    ):
        expected, metrics = listed([pattern])
        assert expected, pattern


def inventory(bucket: str, prefix: str, path: str) -> list[str]:
    """A Cloud Storage inventory report of `prefix`, as Storage Insights writes it (CSV)."""
    uris = []
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["bucket", "name", "size", "updated", "generation", "contentType"])
        for blob in gcs().list_blobs(bucket, prefix=prefix):
            updated = blob.updated.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            writer.writerow([bucket, blob.name, blob.size, updated, blob.generation, "image/jpeg"])
            uris.append(f"gs://{bucket}/{blob.name}")
    return uris


def test_a_manifest_with_versions_costs_no_metadata_request(
    storage, photo_folder, tiny_tf2, tmp_path
):
    bucket = new_bucket()
    upload_folder(photo_folder[0], bucket, "photos")
    report = str(tmp_path / "inventory.csv")
    uris = inventory(bucket, "photos/", report)
    plain = str(tmp_path / "plain.txt")
    with open(plain, "w") as handle:
        handle.write("\n".join(uris))
    seen = {}
    for name, manifest in (("inventory", report), ("plain", plain)):
        output = str(tmp_path / name)
        with proxied(storage) as proxy:
            args = ["--input_manifest", manifest, "--output", output]
            assert run_job(*args, "--model_handle", tiny_tf2) == 0
        summary = read_summary(output)
        assert summary["matched"] == len(uris) == summary["embedded"] + summary["failed"]
        seen[name] = proxy.requests
    downloads = sum(request.is_download for request in seen["inventory"])
    assert downloads == len(uris)
    assert sum(request.is_metadata for request in seen["inventory"]) == 0
    # Without versions in the manifest, each entry's version is asked for: the count is real.
    assert sum(request.is_metadata for request in seen["plain"]) == len(uris)


def test_storage_faults_are_retried_and_nothing_is_lost(storage, photo_folder, tiny_tf2, tmp_path):
    folder, expected = photo_folder
    bucket = new_bucket()
    images = []
    for part in ("a", "b/c", "b/d", "e/f/g"):
        images += upload_folder(folder, bucket, f"photos/{part}", names=list(expected))
    output = str(tmp_path / "out")
    # Half of all first attempts fail: 503, 429, a dropped connection, a download cut short or
    # one damaged in flight.
    with proxied(storage, fault_fraction=0.5) as proxy:
        args = ["--input", f"gs://{bucket}/photos", "--output", output, *MULTI_PROCESSING]
        assert run_job(*args, "--model_handle", tiny_tf2) == 0
    faults = proxy.faults()
    assert set(faults) == set(storage_proxy.DOWNLOAD_FAULTS), faults
    # The job's own listings ask for pages of 1000; the check before launch lists through Beam's
    # filesystem, which retries on its own and counts nothing.
    faulted_reads = [
        request
        for request in proxy.requests
        if request.fault
        and (request.is_download or (request.is_listing and "maxResults" in request.query))
    ]
    assert faulted_reads
    summary = read_summary(output)
    assert read_failures(output) == {}
    assert set(read_embeddings(output)) == set(images)  # each exactly once
    assert (summary["matched"], summary["embedded"], summary["failed"]) == (len(images),) * 2 + (0,)
    # The job's own retries (listing and reading) are in its counters; the rest were Beam's.
    assert summary["storage_retries"] == len(faulted_reads)


def test_the_session_reads_the_environment_once_and_keeps_what_it_says(monkeypatch):
    import requests

    from transforms.gcs import settle_environment

    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/company-ca.pem")
    session = requests.Session()
    settle_environment(session, "https://storage.example")
    assert session.proxies["https"] == "http://proxy.example:3128"
    assert session.verify == "/etc/company-ca.pem"
    assert session.trust_env is False
    # What the environment says later no longer reaches the session.
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere.example:3128")
    settings = session.merge_environment_settings("https://storage.example", {}, None, None, None)
    assert settings["proxies"]["https"] == "http://proxy.example:3128"
    # A host the environment exempts gets no proxy.
    monkeypatch.setenv("NO_PROXY", "storage.example")
    exempt = requests.Session()
    settle_environment(exempt, "https://storage.example")
    assert "https" not in exempt.proxies


def read_and_settled(uri: str) -> tuple[bytes, bool]:
    """The object as the job reads it, and whether this thread's client has stopped reading the
    environment on each request."""
    data = gcs_client.read_object(uri)
    return data, gcs_client.client()._http.trust_env is False  # noqa: SLF001


def test_reads_go_through_a_proxy_the_environment_names(storage):
    """The job's client reads the proxy settings once, when it is made; a proxy named in the
    environment still carries every request."""
    bucket = new_bucket()
    (uri,) = fill(bucket, ["through-a-proxy.jpg"])
    read = []
    no_proxy = dict.fromkeys(("no_proxy", "NO_PROXY"), "")
    with (
        storage_proxy.running(storage["STORAGE_EMULATOR_HOST"]) as (url, proxy),
        emulators.environment(http_proxy=url, HTTP_PROXY=url, **no_proxy),
    ):
        # A thread of its own makes a client of its own, under this environment.
        reader = threading.Thread(target=lambda: read.append(read_and_settled(uri)))
        reader.start()
        reader.join()
    assert read == [(b"through-a-proxy.jpg", True)]
    downloads = [request.path for request in proxy.requests if request.is_download]
    assert downloads == [f"/download/storage/v1/b/{bucket}/o/through-a-proxy.jpg"]
