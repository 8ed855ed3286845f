"""Index lines leave the encoder in blocks; the index still holds one line per embedded image."""

from __future__ import annotations

import glob
import gzip
import json

import apache_beam as beam
import numpy as np
import pytest

from tests.job import read_embeddings
from transforms import write
from transforms.index import index_pattern
from transforms.records import Embedding
from transforms.write import WriteEmbeddings


def index_rows(output: str) -> list[dict]:
    rows = []
    for path in glob.glob(index_pattern(output)):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle]
    return rows


@pytest.mark.parametrize("block", [3, 1000])
def test_one_index_line_per_record_with_its_stamp(block, tmp_path, monkeypatch):
    # 3: lines leave in full blocks and in what is left at a bundle's end; 1000: only in the latter.
    monkeypatch.setattr(write, "INDEX_BLOCK", block)
    embeddings = [
        Embedding(f"gs://b/{index}.jpg", np.full(4, index, np.float32), f"size={index}")
        for index in range(8)
    ]
    output = str(tmp_path)
    with beam.Pipeline() as pipeline:
        _ = pipeline | beam.Create(embeddings) | WriteEmbeddings(output, "m", "r")

    rows = index_rows(output)
    records = read_embeddings(output)
    uris = sorted(embedding.uri for embedding in embeddings)
    assert sorted(row["uri"] for row in rows) == sorted(records) == uris
    for row in rows:
        record = records[row["uri"]]
        assert (row["fingerprint"], row["run"]) == (record["fingerprint"], "r")
        assert row["embedded_at"] == record["embedded_at"]


def test_blocks_are_full_but_the_last_of_a_bundle(monkeypatch):
    monkeypatch.setattr(write, "INDEX_BLOCK", 3)
    encode = write._EncodeFn("m", "r", write.OutputFormat.TFRECORD)
    encode.start_bundle()
    outputs = [output for i in range(8) for output in encode.process(Embedding(f"{i}", np.ones(2)))]
    last = list(encode.finish_bundle())
    blocks = [output.value for output in outputs if isinstance(output, beam.pvalue.TaggedOutput)]
    assert [block.count("\n") + 1 for block in blocks] == [3, 3]
    (tail,) = last
    assert tail.tag == write.INDEX
    assert tail.value.windows == (beam.transforms.window.GlobalWindow(),)
    lines = "\n".join([*blocks, tail.value.value]).split("\n")
    assert [json.loads(line)["uri"] for line in lines] == [f"{i}" for i in range(8)]
    assert list(encode.finish_bundle()) == []  # nothing twice
