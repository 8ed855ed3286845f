"""Composable Beam transforms that turn image files into EfficientNet embeddings.

The stages, usable from any Beam pipeline (README, "The stages in your own pipeline"):

    from transforms import DecodeImages, EmbedImages, HubImageEmbedder, ImageFile

Names are imported on first use, so that importing one module of the package stays cheap.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "ReadImages": "transforms.read",
    "DecodeImages": "transforms.decode",
    "EmbedImages": "transforms.embed",
    "HubImageEmbedder": "transforms.model",
    "WriteEmbeddings": "transforms.write",
    "WriteFailures": "transforms.write",
    "WriteEmbeddingsToBigQuery": "transforms.bigquery",
    "ImageFile": "transforms.records",
    "DecodedImage": "transforms.records",
    "Embedding": "transforms.records",
    "Failure": "transforms.records",
    "FAILURES": "transforms.records",
    "Resize": "transforms.preprocess",
    "Precision": "transforms.accelerate",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'transforms' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
