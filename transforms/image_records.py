"""ReadImageRecords: images stored in TFRecord files of tf.train.Examples (the layout TFDS and
the TPU ImageNet scripts write) -> (uri, bytes), the URI being `FILE#KEY`."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Sequence

import apache_beam as beam

from transforms import reasons
from transforms.counters import count
from transforms.fingerprint import stat
from transforms.records import FAILURES, Failure, ImageFile, describe_error

DEFAULT_KEY_FEATURE = "image/filename"
DEFAULT_IMAGE_FEATURE = "image/encoded"
# Records decoded per call of tfx-bsl's columnar decoder; see benchmarks/image_records.py.
DECODE_BATCH = 64


def record_uri(filename: str, key: str | None, record: bytes) -> str:
    if key:
        return f"{filename}#{key}"
    # A record without a key is still named, by its content, so it is counted and reported once.
    return f"{filename}#sha1:{hashlib.sha1(record).hexdigest()[:16]}"


class ExampleDecoder:
    """Pulls features out of serialized tf.train.Examples, many at a time, with tfx-bsl's C++
    decoder into Arrow columns: bytes features, then int64 and float ones."""

    def __init__(self, *features: str, ints: Sequence[str] = (), floats: Sequence[str] = ()):
        from tensorflow_metadata.proto.v0 import schema_pb2
        from tfx_bsl.coders import example_coder

        schema = schema_pb2.Schema()
        for names, kind in (
            (features, schema_pb2.BYTES),
            (ints, schema_pb2.INT),
            (floats, schema_pb2.FLOAT),
        ):
            for name in names:
                schema.feature.add(name=name, type=kind)
        self._decoder = example_coder.ExamplesToRecordBatchDecoder(schema.SerializeToString())
        self._features = (*features, *ints)

    def columns(self, records: Sequence[bytes]) -> dict:
        """feature name -> its Arrow list column (absent where no record has it); raises if any
        record is not an Example."""
        batch = self._decoder.DecodeBatch(list(records))
        return {name: batch.column(name) for name in batch.schema.names}

    def decode(self, records: Sequence[bytes]) -> list[tuple]:
        """One tuple of the first value of each bytes and int64 feature per record, None where
        a feature is absent; raises if any record is not an Example."""
        columns = self.columns(records)
        values = [first_values(columns.get(name), len(records)) for name in self._features]
        return list(zip(*values, strict=True))


def first_values(column, rows: int) -> list:
    """The first value of each row of an Arrow list column; None for all rows if no column."""
    if column is None:
        return [None] * rows
    return [values[0] if values else None for values in column.to_pylist()]


class _ParseFn(beam.DoFn):
    def __init__(self, key_feature: str, image_feature: str):
        self._features = (key_feature, image_feature)

    def setup(self):
        self._decoder = ExampleDecoder(*self._features)
        self._fingerprints: dict[str, str] = {}

    def _fingerprint(self, filename: str) -> str:
        """A record's version is its file's: a rewritten file re-embeds all its records."""
        if filename not in self._fingerprints:
            self._fingerprints[filename] = stat(filename)
        return self._fingerprints[filename]

    def process(self, batch: list[tuple[str, bytes]]) -> Iterator:
        records = [record for _, record in batch]
        try:
            decoded = self._decoder.decode(records)
        except Exception:  # noqa: BLE001 - one bad record: decode one by one to find it
            decoded = [self._decode_one(record) for record in records]
        for (filename, record), fields in zip(batch, decoded, strict=True):
            count("matched")
            if isinstance(fields, Exception):
                uri = record_uri(filename, None, record)
                error = describe_error(type(fields).__name__, str(fields))
                failure = Failure(uri, "read", reasons.NOT_AN_EXAMPLE, error)
                yield beam.pvalue.TaggedOutput(FAILURES, failure)
                continue
            key, image = fields
            uri = record_uri(filename, key.decode("utf-8", "replace") if key else None, record)
            if image is None:
                missing = f"MissingFeature: no {self._features[1]!r} in the record"
                failure = Failure(uri, "read", reasons.MISSING_FEATURE, missing)
                yield beam.pvalue.TaggedOutput(FAILURES, failure)
                continue
            yield ImageFile(uri, image, self._fingerprint(filename))

    def _decode_one(self, record: bytes):
        try:
            return self._decoder.decode([record])[0]
        except Exception as exc:  # noqa: BLE001 - reported as this record's failure
            return exc


@dataclasses.dataclass
class ReadImageRecords(beam.PTransform):
    """Outputs {'files': ImageFile, 'failures': Failure} for every record of the matched files."""

    patterns: Sequence[str]
    key_feature: str = DEFAULT_KEY_FEATURE
    image_feature: str = DEFAULT_IMAGE_FEATURE

    def __post_init__(self):
        super().__init__()

    def expand(self, pbegin):
        outputs = (
            pbegin
            | "RecordPatterns" >> beam.Create(list(self.patterns))
            | "ReadRecords" >> beam.io.ReadAllFromTFRecord(with_filename=True)
            | "BatchRecords"
            >> beam.BatchElements(min_batch_size=DECODE_BATCH, max_batch_size=DECODE_BATCH)
            | "ParseExamples"
            >> beam.ParDo(_ParseFn(self.key_feature, self.image_feature)).with_outputs(
                FAILURES, main="files"
            )
        )
        return {"files": outputs.files, FAILURES: outputs[FAILURES]}
