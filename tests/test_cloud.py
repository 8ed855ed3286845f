"""The same command line on gs:// buckets and a BigQuery table, against real protocol emulators
on 127.0.0.1 (tests/emulators.py). Everything is read back with the official clients."""

from __future__ import annotations

import os
import uuid

import pytest

from pipeline.checks import folder_as_glob
from pipeline.report import main as report_main
from tests import emulators
from tests.buckets import download_folder, gcs, new_bucket, upload_folder
from tests.job import (
    MULTI_PROCESSING,
    latest_per_uri,
    read_embeddings,
    read_failures,
    read_parquet_records,
    read_records,
    read_summary,
    run_job,
)

PHOTOS = ("china.jpg", "coffee.png", "chelsea.png", "astronaut-exif6.jpg")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with emulators.cloud(str(tmp_path_factory.mktemp("cloud"))) as env:
        yield env


def bigquery(cloud):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery as bq

    return bq.Client(
        project=emulators.PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=cloud["BIGQUERY_EMULATOR_HOST"]),
    )


def table_rows(cloud, dataset: str) -> dict[str, dict]:
    rows = {}
    query = f"SELECT uri, embedding, model, embedded_at FROM `{emulators.PROJECT}.{dataset}.emb`"
    for row in bigquery(cloud).query(query).result():
        assert row["uri"] not in rows, f"{row['uri']} in the table twice"
        rows[row["uri"]] = dict(row.items())
    return rows


def new_dataset(cloud) -> str:
    name = f"ds_{uuid.uuid4().hex[:8]}"
    bigquery(cloud).create_dataset(name)
    return name


def run_on_cloud(cloud, tmp_path, model: str, images: list[str], *extra: str):
    """Runs the job from gs:// to gs:// and a new table; returns (local copy, table rows)."""
    out_bucket, dataset = new_bucket(), new_dataset(cloud)
    output = f"gs://{out_bucket}/run"
    source = images[0].rsplit("/", 1)[0]
    assert (
        run_job(
            "--input",
            f"{source}/*",
            "--output",
            output,
            "--output_table",
            f"{emulators.PROJECT}:{dataset}.emb",
            "--temp_location",
            f"gs://{out_bucket}/tmp",
            "--project",
            emulators.PROJECT,
            "--model_handle",
            model,
            *extra,
        )
        == 0
    )
    local = download_folder(output, str(tmp_path / "out"))
    return local, table_rows(cloud, dataset)


def assert_both_sinks(local: str, rows: dict, images: list[str], dim: int, model: str) -> None:
    records = read_embeddings(local)
    assert set(records) == set(images) == set(rows)
    assert read_failures(local) == {}
    summary = read_summary(local)
    assert (summary["matched"], summary["embedded"], summary["failed"]) == (len(images),) * 2 + (0,)
    for uri, record in records.items():
        assert record["embedding"].shape == (dim,)
        # Each float exactly: Avro load files carry the doubles themselves, and the JSON of
        # streaming inserts writes each double in digits that read back as the same double.
        assert rows[uri]["embedding"] == record["embedding"].astype(float).tolist()
        assert rows[uri]["model"] == model and rows[uri]["embedded_at"] is not None


@pytest.mark.b4
def test_buckets_in_and_out_and_a_table_with_b4(cloud, photo_folder, b4_export, tmp_path):
    """The default write method of a batch job (file loads through --temp_location)."""
    images = upload_folder(photo_folder[0], new_bucket(), "dir", names=PHOTOS)
    local, rows = run_on_cloud(cloud, tmp_path, b4_export[0], images)
    assert_both_sinks(local, rows, images, 1792, b4_export[0])


def test_streaming_inserts_and_a_model_on_gs(cloud, photo_folder, tiny_tf2, tmp_path):
    images = upload_folder(photo_folder[0], new_bucket(), "dir", names=PHOTOS)
    model = f"gs://{new_bucket()}/models/tiny"
    upload_folder(tiny_tf2, model.split("/")[2], "models/tiny")
    with emulators.environment(TFHUB_CACHE_DIR=str(tmp_path / "hub-cache")):
        local, rows = run_on_cloud(
            cloud, tmp_path, model, images, "--bigquery_method", "streaming_inserts"
        )
        # The model was copied once into the cache, and loaded from there.
        assert len(os.listdir(tmp_path / "hub-cache")) == 1
    assert_both_sinks(local, rows, images, 8, model)


def test_multi_processing_workers_reach_both_sinks(cloud, photo_folder, tiny_tf1_hub, tmp_path):
    images = upload_folder(photo_folder[0], new_bucket(), "dir", names=PHOTOS)
    local, rows = run_on_cloud(cloud, tmp_path, tiny_tf1_hub, images, *MULTI_PROCESSING)
    assert_both_sinks(local, rows, images, 8, tiny_tf1_hub)
    # The rows were loaded from Avro files, not JSON ones.
    loads = [job for job in bigquery(cloud).list_jobs() if job.job_type == "load"]
    assert loads and {job.source_format for job in loads} == {"AVRO"}


def test_manifest_on_gs_with_a_missing_object(cloud, photo_folder, tiny_tf2, tmp_path):
    bucket = new_bucket()
    images = upload_folder(photo_folder[0], bucket, "dir", names=PHOTOS)
    missing = f"gs://{bucket}/dir/deleted.jpg"
    gcs().bucket(bucket).blob("list.txt").upload_from_string("\n".join([*images, missing]))
    output = f"gs://{bucket}/run"
    assert (
        run_job(
            "--input_manifest",
            f"gs://{bucket}/list.txt",
            "--output",
            output,
            "--model_handle",
            tiny_tf2,
        )
        == 0
    )
    local = download_folder(output, str(tmp_path / "out"))
    assert set(read_embeddings(local)) == set(images)
    failures = read_failures(local)
    assert set(failures) == {missing} and failures[missing]["stage"] == "read"


def test_a_bucket_folder_means_every_object_under_it(cloud, photo_folder, tiny_tf2, tmp_path):
    bucket = new_bucket()
    images = upload_folder(photo_folder[0], bucket, "photos/2026", names=PHOTOS[:2])
    images += upload_folder(photo_folder[0], bucket, "photos/2026/11", names=PHOTOS[2:])
    # An empty object named like a folder, as consoles create them: listed, never read.
    gcs().bucket(bucket).blob("photos/2026/empty/").upload_from_string(b"")
    assert folder_as_glob(f"gs://{bucket}/photos") == f"gs://{bucket}/photos/**"
    assert folder_as_glob(images[0]) == images[0]
    for number, source in enumerate((f"gs://{bucket}/photos", f"gs://{bucket}/photos/")):
        output = f"gs://{bucket}/run-{number}"
        assert run_job("--input", source, "--output", output, "--model_handle", tiny_tf2) == 0
        local = download_folder(output, str(tmp_path / f"out-{number}"))
        assert set(read_embeddings(local)) == set(images) and read_failures(local) == {}
        assert read_summary(local)["matched"] == len(PHOTOS)


def refusal(capsys, source: str, output: str, model: str) -> str:
    """What the command says when it stops before launch (exit status 2)."""
    assert run_job("--input", source, "--output", output, "--model_handle", model) == 2
    return capsys.readouterr().err


def test_checks_on_gs(cloud, tiny_tf2, tmp_path, capsys):
    bucket = new_bucket()
    output = f"gs://{bucket}/o"
    assert "matches no file" in refusal(capsys, f"gs://{bucket}/nothing/*", output, tiny_tf2)
    gcs().bucket(bucket).blob("placeholders/only/").upload_from_string(b"")
    assert "matches no file" in refusal(capsys, f"gs://{bucket}/placeholders/**", output, tiny_tf2)
    gcs().bucket(bucket).blob("a.jpg").upload_from_string(b"x")
    elsewhere = "gs://no-such-bucket-here/o"
    assert "is not writable" in refusal(capsys, f"gs://{bucket}/*", elsewhere, tiny_tf2)
    no_model = f"gs://{bucket}/no-model"
    assert "--model_handle" in refusal(capsys, f"gs://{bucket}/*", output, no_model)


def test_scheduled_runs_on_gs_embed_only_new_and_changed_objects(
    cloud, photo_folder, tiny_tf2, tmp_path
):
    folder, _ = photo_folder
    bucket = new_bucket()
    globbed = upload_folder(folder, bucket, "dir", names=PHOTOS[:3])
    listed = upload_folder(folder, bucket, "listed", names=PHOTOS[3:])
    gcs().bucket(bucket).blob("list.txt").upload_from_string("\n".join(listed))
    output = f"gs://{bucket}/run"
    args = (
        *("--input", f"gs://{bucket}/dir/*", "--input_manifest", f"gs://{bucket}/list.txt"),
        *("--output", output, "--model_handle", tiny_tf2, "--skip_existing"),
    )
    assert run_job(*args) == 0  # an empty folder: nothing earlier to skip

    # A new generation of one globbed object (other content) and one new object.
    replaced = globbed[0]
    gcs().bucket(bucket).blob("dir/" + replaced.rsplit("/", 1)[1]).upload_from_filename(
        os.path.join(folder, "flower.jpg")
    )
    added = upload_folder(folder, bucket, "dir", names=("rocket.jpg",))
    assert run_job(*args) == 0

    local = download_folder(output, str(tmp_path / "out"))
    summary = read_summary(local)
    assert (summary["matched"], summary["skipped"], summary["embedded"]) == (5, 3, 2)
    records = read_records(local)
    assert len(records) == 6
    latest = latest_per_uri(records)
    assert set(latest) == {*globbed, *listed, *added}
    assert sum(record["uri"] == replaced for record in records) == 2
    assert all(record["fingerprint"].startswith("size=") for record in records)
    # Objects a glob listed carry their generation (a bare manifest's are asked of Beam's
    # filesystem, which has none); each run left its index beside its vectors.
    for record in records:
        assert (";generation=" in record["fingerprint"]) is (record["uri"] not in listed)
    indexed = {name.split("-")[1] for name in os.listdir(local) if name.startswith("index-")}
    assert indexed == {record["run"] for record in records} and len(indexed) == 2


def test_parquet_on_gs_and_a_report_of_it(cloud, photo_folder, tiny_tf2, tmp_path):
    images = upload_folder(photo_folder[0], new_bucket(), "dir", names=PHOTOS)
    output = f"gs://{new_bucket()}/run"
    source = images[0].rsplit("/", 1)[0]
    args = ["--input", f"{source}/*", "--output", output, "--model_handle", tiny_tf2, "--quiet"]
    assert run_job(*args, "--output_format", "parquet") == 0
    # The page is written beside the results, its thumbnails read from the bucket.
    assert report_main(["--output", output, "--quiet"]) == 0
    local = download_folder(output, str(tmp_path / "out"))
    rows = {row["uri"]: row for row in read_parquet_records(local)}
    assert set(rows) == set(images)
    for uri, row in rows.items():
        assert row["embedding"].shape == (8,)
        assert ";generation=" in row["fingerprint"], uri
    with open(os.path.join(local, "report.html"), encoding="utf-8") as handle:
        page = handle.read()
    assert "no preview" not in page
    for uri in images:
        assert f'data-uri="{uri}"><img src="data:image/jpeg;base64,' in page
    blob = gcs().bucket(output.split("/")[2]).get_blob("run/report.html")
    assert blob.content_type == "text/html"
