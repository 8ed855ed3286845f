"""ReadImages: globs and manifests on any Beam filesystem -> (uri, bytes), or a read failure."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import apache_beam as beam

from transforms.counters import count
from transforms.fingerprint import stat
from transforms.fs import read_bytes
from transforms.history import EARLIER, MATCHED, KeepNew
from transforms.listing import ListFiles
from transforms.manifest import DEFAULT_COLUMN, read_manifest
from transforms.records import FAILURES, Failure, ImageFile, MatchedFile


def with_version(listed: MatchedFile) -> MatchedFile:
    """A manifest's file with its fingerprint: the row's own, else the store's (one request)."""
    return listed if listed.fingerprint else listed._replace(fingerprint=stat(listed.uri))


class _ManifestFn(beam.DoFn):
    def __init__(self, column: str):
        self._column = column

    def process(self, manifest: str):
        for entry in read_manifest(manifest, self._column):
            if isinstance(entry, Failure):
                # A manifest row that names no image is a matched entry that failed.
                count("matched")
                yield beam.pvalue.TaggedOutput(FAILURES, entry)
            else:
                yield entry


class _ReadFn(beam.DoFn):
    def process(self, matched: MatchedFile):
        try:
            data = read_bytes(matched.uri)
        except Exception as exc:  # noqa: BLE001 - an unreadable file becomes a failure record
            failure = Failure.from_exception(matched.uri, "read", exc)
            yield beam.pvalue.TaggedOutput(FAILURES, failure)
            return
        yield ImageFile(matched.uri, data, matched.fingerprint)


@dataclasses.dataclass
class ReadImages(beam.PTransform):
    """Outputs {'files': ImageFile, 'failures': Failure}: the files that `patterns` match and
    that `manifests` list, each URI once however often it is named. A listed file that does not
    exist is a read failure.

    With `earlier` ((uri, fingerprint) of what earlier runs embedded), a file whose URI and
    fingerprint are among them is skipped before it is read. The join (or, without `earlier`,
    the grouping by URI) is a shuffle, which also spreads the reads of one huge glob over all
    workers.
    """

    patterns: Sequence[str] = ()
    manifests: Sequence[str] = ()
    manifest_column: str = DEFAULT_COLUMN
    earlier: beam.PCollection | None = None

    def __post_init__(self):
        super().__init__()

    def expand(self, pbegin):
        matched, failures = [], []
        if self.patterns:
            matched.append(pbegin | "ListFiles" >> ListFiles(self.patterns))
        if self.manifests:
            listed = (
                pbegin
                | "Manifests" >> beam.Create(list(self.manifests))
                | "ReadManifests"
                >> beam.ParDo(_ManifestFn(self.manifest_column)).with_outputs(
                    FAILURES, main="entries"
                )
            )
            matched.append(listed.entries | "Stat" >> beam.Map(with_version))
            failures.append(listed[FAILURES])
        versions = {MATCHED: matched | "AllMatched" >> beam.Flatten(pipeline=pbegin.pipeline)}
        if self.earlier is not None:
            versions[EARLIER] = self.earlier
        outputs = (
            versions
            | "KeepNew" >> KeepNew()
            | "ReadBytes" >> beam.ParDo(_ReadFn()).with_outputs(FAILURES, main="files")
        )
        failures.append(outputs[FAILURES])
        return {"files": outputs.files, FAILURES: failures | "ReadFailures" >> beam.Flatten()}
