"""ReadImages: globs on any Beam filesystem -> (uri, bytes), or a read failure."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.records import FAILURES, METRICS_NAMESPACE, Failure, ImageFile


def read_file(uri: str) -> bytes:
    # Never decompress by extension: an image is read byte for byte.
    with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read()


class _ReadFn(beam.DoFn):
    def __init__(self):
        self._matched = Metrics.counter(METRICS_NAMESPACE, "matched")

    def process(self, uri: str):
        self._matched.inc()
        try:
            data = read_file(uri)
        except Exception as exc:  # noqa: BLE001 - an unreadable file becomes a failure record
            yield beam.pvalue.TaggedOutput(FAILURES, Failure.from_exception(uri, "read", exc))
            return
        yield ImageFile(uri, data)


@dataclasses.dataclass
class ReadImages(beam.PTransform):
    """Outputs {'files': ImageFile, 'failures': Failure}; each matched URI once, however many
    patterns match it. The de-duplication is a shuffle, which also spreads the reads of one huge
    glob over all workers."""

    patterns: Sequence[str]

    def __post_init__(self):
        super().__init__()

    def expand(self, pbegin):
        outputs = (
            pbegin
            | "Patterns" >> beam.Create(list(self.patterns))
            | "MatchFiles" >> fileio.MatchAll()
            | "Paths" >> beam.Map(lambda metadata: metadata.path)
            | "OncePerUri" >> beam.Distinct()
            | "ReadBytes" >> beam.ParDo(_ReadFn()).with_outputs(FAILURES, main="files")
        )
        return {"files": outputs.files, FAILURES: outputs[FAILURES]}
