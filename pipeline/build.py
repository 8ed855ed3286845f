"""Assembles the job from the transforms; returns nothing to run, only wires the graph."""

from __future__ import annotations

import apache_beam as beam

from pipeline import accelerator
from pipeline.options import JobOptions, Sharing
from pipeline.workers import processes_per_machine
from transforms.bigquery import WriteEmbeddingsToBigQuery
from transforms.decode import DecodeImages
from transforms.embed import EmbedImages
from transforms.history import EARLIER, MATCHED, KeepNew, ReadHistory
from transforms.image_records import ReadImageRecords
from transforms.model import HubImageEmbedder
from transforms.read import ReadImages
from transforms.records import FAILURES
from transforms.write import WriteEmbeddings, WriteFailures


def build(
    pipeline: beam.Pipeline, job: JobOptions, image_size: int, vector_width: int | None = None
) -> None:
    """Wires the job; `job.run_id` must be set, and `vector_width` for Parquet output."""
    assert job.run_id, "the run id is chosen before the job is built"
    earlier = None
    if job.skip_existing:
        earlier = pipeline | "EarlierRecords" >> ReadHistory(job.output)
    sources, files = [], []
    if job.inputs or job.input_manifests:
        read = pipeline | "ReadImages" >> ReadImages(
            job.inputs, job.input_manifests, job.manifest_column, earlier
        )
        sources.append(read)
        files.append(read["files"])
    if job.input_tfrecords:
        records = pipeline | "ReadImageRecords" >> ReadImageRecords(
            job.input_tfrecords, job.tfrecord_key_feature, job.tfrecord_image_feature
        )
        sources.append(records)
        record_files = records["files"]
        if earlier is not None:
            # Records are read whole with their file, so their skip comes after the read.
            record_files = {MATCHED: record_files, EARLIER: earlier} | "KeepNewRecords" >> KeepNew(
                once_per_uri=False, count_matched=False
            )
        files.append(record_files)
    files = files | "AllFiles" >> beam.Flatten()
    # Without an accelerator the model computes on the workers' cores, and decoding yields them.
    images = files | "DecodeImages" >> DecodeImages(
        image_size, job.resize, job.max_pixels, yield_cores=job.accelerator is None
    )
    handler = HubImageEmbedder(
        job.model_handle,
        batch_size=job.batch_size,
        precision=job.precision,
        jit_compile=job.jit_compile,
        share_across_processes=job.model_sharing is Sharing.MACHINE,
        processes_per_machine=processes_per_machine(pipeline.options),
        on_tpu=accelerator.is_tpu(job.accelerator),
    )
    embedded = images["images"] | "EmbedImages" >> EmbedImages(handler)
    vectors = embedded["embeddings"]
    _ = vectors | "WriteEmbeddings" >> WriteEmbeddings(
        job.output, job.model_handle, job.run_id, job.output_format, vector_width
    )
    if job.output_table:
        _ = vectors | "WriteBigQuery" >> WriteEmbeddingsToBigQuery(
            job.output_table, job.model_handle, job.bigquery_method
        )
    failures = [source[FAILURES] for source in sources]
    _ = (
        (*failures, images[FAILURES], embedded[FAILURES])
        | "AllFailures" >> beam.Flatten()
        | "WriteFailures" >> WriteFailures(job.output, job.run_id)
    )
