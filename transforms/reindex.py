"""IndexRuns: the index of each run whose embeddings have none, read from its embedding files
once (TFRecord, or four columns of its Parquet), written as that run's own
`index-RUN-SSSSS-of-NNNNN.jsonl.gz`."""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Iterator

import apache_beam as beam
import pyarrow as pa
from apache_beam.io import fileio
from apache_beam.options.value_provider import StaticValueProvider

from transforms.history import HistoryFiles, shard_run
from transforms.image_records import DECODE_BATCH, ExampleDecoder
from transforms.index import INDEX_PREFIX, INDEX_SUFFIX, IndexRow
from transforms.parquet import table_rows
from transforms.write import EMBEDDINGS_PREFIX, EMBEDDINGS_SUFFIX


class _GzipLines(fileio.FileSink):
    """One JSON line per IndexRow, gzip-compressed, as WriteIndex writes them."""

    def open(self, fh) -> None:
        self._gzip = gzip.GzipFile(fileobj=fh, mode="wb")

    def write(self, row: IndexRow) -> None:
        self._gzip.write(row.to_json().encode("utf-8") + b"\n")

    def flush(self) -> None:
        self._gzip.close()  # ends the gzip stream; the file itself is closed by WriteToFiles


class _RowsFn(beam.DoFn):
    """(embeddings file, serialized records) -> an IndexRow per record, of the file's run."""

    def setup(self):
        self._decoder = ExampleDecoder("uri", "fingerprint", ints=("embedded_at",))

    def process(self, batch: list[tuple[str, bytes]]) -> Iterator[IndexRow]:
        decoded = self._decoder.decode([record for _, record in batch])
        for (path, _), (uri, version, embedded_at) in zip(batch, decoded, strict=True):
            if uri is not None:
                run = shard_run(path, EMBEDDINGS_PREFIX, EMBEDDINGS_SUFFIX)
                yield IndexRow(uri.decode(), (version or b"").decode(), embedded_at, run)


def parquet_rows(table: pa.Table) -> Iterator[IndexRow]:
    """IndexRows of a table of an embeddings Parquet file."""
    for uri, version, embedded_at, run in table_rows(
        table, "uri", "fingerprint", "embedded_at", "run"
    ):
        yield IndexRow(uri, version or "", embedded_at, run)


@dataclasses.dataclass
class IndexRuns(beam.PTransform):
    """Writes into `output` the index of the runs whose embedding files `files` names, by way
    of files in `temp_directory`."""

    output: str
    files: HistoryFiles
    temp_directory: str

    def __post_init__(self):
        super().__init__()

    def expand(self, pbegin):
        from_tfrecords = (
            pbegin
            | "UnindexedFiles" >> beam.Create(list(self.files.tfrecords))
            | "ReadVectors" >> beam.io.ReadAllFromTFRecord(with_filename=True)
            | "BatchRecords"
            >> beam.BatchElements(min_batch_size=DECODE_BATCH, max_batch_size=DECODE_BATCH)
            | "IndexRows" >> beam.ParDo(_RowsFn())
        )
        from_parquet = (
            pbegin
            | "UnindexedParquet" >> beam.Create(list(self.files.parquet))
            | "ReadParquet"
            >> beam.io.ReadAllFromParquetBatched(
                columns=["uri", "fingerprint", "embedded_at", "run"]
            )
            | "ParquetIndexRows" >> beam.FlatMap(parquet_rows)
        )
        return (
            (from_tfrecords, from_parquet)
            | "AllRows" >> beam.Flatten()
            | "WriteIndexes"
            >> fileio.WriteToFiles(
                self.output,
                file_naming=fileio.destination_prefix_naming(INDEX_SUFFIX),
                destination=lambda row: f"{INDEX_PREFIX}-{row.run}",
                sink=lambda _: _GzipLines(),
                shards=1,
                temp_directory=StaticValueProvider(str, self.temp_directory),
            )
        )
