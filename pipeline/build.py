"""Assembles the job from the transforms; returns nothing to run, only wires the graph."""

from __future__ import annotations

import apache_beam as beam

from pipeline.options import JobOptions, Sharing
from transforms.bigquery import WriteEmbeddingsToBigQuery
from transforms.decode import DecodeImages
from transforms.embed import EmbedImages
from transforms.image_records import ReadImageRecords
from transforms.model import HubImageEmbedder
from transforms.read import ReadImages
from transforms.records import FAILURES
from transforms.write import WriteEmbeddings, WriteFailures


def build(pipeline: beam.Pipeline, job: JobOptions, image_size: int) -> None:
    sources = []
    if job.inputs or job.input_manifests:
        sources.append(
            pipeline
            | "ReadImages" >> ReadImages(job.inputs, job.input_manifests, job.manifest_column)
        )
    if job.input_tfrecords:
        sources.append(
            pipeline
            | "ReadImageRecords"
            >> ReadImageRecords(
                job.input_tfrecords, job.tfrecord_key_feature, job.tfrecord_image_feature
            )
        )
    files = [source["files"] for source in sources] | "AllFiles" >> beam.Flatten()
    images = files | "DecodeImages" >> DecodeImages(image_size, job.resize, job.max_pixels)
    handler = HubImageEmbedder(
        job.model_handle,
        batch_size=job.batch_size,
        precision=job.precision,
        jit_compile=job.jit_compile,
        share_across_processes=job.model_sharing is Sharing.MACHINE,
    )
    embedded = images["images"] | "EmbedImages" >> EmbedImages(handler)
    vectors = embedded["embeddings"]
    _ = vectors | "WriteEmbeddings" >> WriteEmbeddings(job.output, job.model_handle)
    if job.output_table:
        _ = vectors | "WriteBigQuery" >> WriteEmbeddingsToBigQuery(
            job.output_table, job.model_handle, job.bigquery_method
        )
    failures = [source[FAILURES] for source in sources]
    _ = (
        (*failures, images[FAILURES], embedded[FAILURES])
        | "AllFailures" >> beam.Flatten()
        | "WriteFailures" >> WriteFailures(job.output)
    )
