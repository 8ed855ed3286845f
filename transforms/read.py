"""ReadImages: globs and manifests on any Beam filesystem -> (uri, bytes), or a read failure."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from transforms.fs import read_bytes
from transforms.manifest import DEFAULT_COLUMN, read_manifest
from transforms.records import FAILURES, METRICS_NAMESPACE, Failure, ImageFile


class _ManifestFn(beam.DoFn):
    def __init__(self, column: str):
        self._column = column
        # A manifest row that names no image is a matched entry that failed.
        self._matched = Metrics.counter(METRICS_NAMESPACE, "matched")

    def process(self, manifest: str):
        for entry in read_manifest(manifest, self._column):
            if isinstance(entry, Failure):
                self._matched.inc()
                yield beam.pvalue.TaggedOutput(FAILURES, entry)
            else:
                yield entry


class _ReadFn(beam.DoFn):
    def __init__(self):
        self._matched = Metrics.counter(METRICS_NAMESPACE, "matched")

    def process(self, uri: str):
        self._matched.inc()
        try:
            data = read_bytes(uri)
        except Exception as exc:  # noqa: BLE001 - an unreadable file becomes a failure record
            yield beam.pvalue.TaggedOutput(FAILURES, Failure.from_exception(uri, "read", exc))
            return
        yield ImageFile(uri, data)


@dataclasses.dataclass
class ReadImages(beam.PTransform):
    """Outputs {'files': ImageFile, 'failures': Failure}: the files that `patterns` match and
    that `manifests` list, each URI once however often it is named. The de-duplication is a
    shuffle, which also spreads the reads of one huge glob over all workers. A listed file that
    does not exist is a read failure."""

    patterns: Sequence[str] = ()
    manifests: Sequence[str] = ()
    manifest_column: str = DEFAULT_COLUMN

    def __post_init__(self):
        super().__init__()

    def expand(self, pbegin):
        uris, failures = [], []
        if self.patterns:
            uris.append(
                pbegin
                | "Patterns" >> beam.Create(list(self.patterns))
                | "MatchFiles" >> fileio.MatchAll()
                | "Paths" >> beam.Map(lambda metadata: metadata.path)
            )
        if self.manifests:
            listed = (
                pbegin
                | "Manifests" >> beam.Create(list(self.manifests))
                | "ReadManifests"
                >> beam.ParDo(_ManifestFn(self.manifest_column)).with_outputs(FAILURES, main="uris")
            )
            uris.append(listed.uris)
            failures.append(listed[FAILURES])
        outputs = (
            uris
            | "AllUris" >> beam.Flatten(pipeline=pbegin.pipeline)
            | "OncePerUri" >> beam.Distinct()
            | "ReadBytes" >> beam.ParDo(_ReadFn()).with_outputs(FAILURES, main="files")
        )
        failures.append(outputs[FAILURES])
        return {"files": outputs.files, FAILURES: failures | "ReadFailures" >> beam.Flatten()}
