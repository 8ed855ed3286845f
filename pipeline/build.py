"""Assembles the job from the transforms; returns nothing to run, only wires the graph."""

from __future__ import annotations

import apache_beam as beam

from pipeline.options import JobOptions
from transforms.decode import DecodeImages
from transforms.embed import EmbedImages
from transforms.model import HubImageEmbedder
from transforms.read import ReadImages
from transforms.records import FAILURES
from transforms.write import WriteEmbeddings, WriteFailures


def build(pipeline: beam.Pipeline, job: JobOptions, image_size: int) -> None:
    files = pipeline | "ReadImages" >> ReadImages(job.inputs)
    images = files["files"] | "DecodeImages" >> DecodeImages(image_size, job.resize)
    handler = HubImageEmbedder(job.model_handle, batch_size=job.batch_size)
    embedded = images["images"] | "EmbedImages" >> EmbedImages(handler)
    _ = embedded["embeddings"] | "WriteEmbeddings" >> WriteEmbeddings(job.output, job.model_handle)
    _ = (
        (files[FAILURES], images[FAILURES], embedded[FAILURES])
        | "AllFailures" >> beam.Flatten()
        | "WriteFailures" >> WriteFailures(job.output)
    )
