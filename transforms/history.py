"""What earlier runs embedded, and the join that passes on only new and changed images.

A matched image is skipped when an earlier record holds its URI with the same version
(`fingerprint.same_version`). What earlier runs embedded is read from their indexes
(transforms/index.py), and only for a run without one (written before indexes existed, or
stopped before writing it) from its embedding records. The skip is a CoGroupByKey of the matched
files with the earlier versions, so a long history costs one shuffle, not a set held in every
worker's memory.
"""

from __future__ import annotations

import dataclasses
import logging
import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple, Protocol

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.counters import count
from transforms.fingerprint import same_version
from transforms.image_records import DECODE_BATCH, ExampleDecoder
from transforms.index import INDEX_PREFIX, INDEX_SUFFIX, ReadIndexFiles, index_pattern
from transforms.parquet import PARQUET_SUFFIX, table_rows
from transforms.write import EMBEDDINGS_PREFIX, EMBEDDINGS_SUFFIX

logger = logging.getLogger(__name__)

# Keys of the joined groups.
MATCHED = "matched"
EARLIER = "earlier"


class Versioned(Protocol):
    uri: str
    fingerprint: str


class _EarlierFn(beam.DoFn):
    """Serialized embedding records -> (uri, fingerprint); the vectors are never decoded."""

    def setup(self):
        self._decoder = ExampleDecoder("uri", "fingerprint")

    def process(self, records: list[bytes]) -> Iterator[tuple[str, str]]:
        for uri, version in self._decoder.decode(records):
            if uri is not None:
                yield uri.decode("utf-8"), (version or b"").decode("utf-8")


# Tags of the files of runs without an index, by format.
UNINDEXED_TFRECORDS = "unindexed_tfrecords"
UNINDEXED_PARQUET = "unindexed_parquet"

# KIND-RUN-SSSSS-of-NNNNN.SUFFIX; a run id may itself hold dashes.
_SHARD = re.compile(r"^(?P<kind>[a-z]+)-(?P<run>.+)-\d+-of-\d+(?P<suffix>\..+)$")


def shard_run(path: str, kind: str, suffix: str) -> str | None:
    """The run id in `KIND-RUN-SSSSS-of-NNNNN.SUFFIX`, or None for any other name."""
    match = _SHARD.match(posixpath.basename(path))
    if match and match["kind"] == kind and match["suffix"] == suffix:
        return match["run"]
    return None


def embeddings_run(path: str) -> str | None:
    """The run id of an embeddings file of either format."""
    for suffix in (EMBEDDINGS_SUFFIX, PARQUET_SUFFIX):
        run = shard_run(path, EMBEDDINGS_PREFIX, suffix)
        if run is not None:
            return run
    return None


class HistoryFiles(NamedTuple):
    """What `--skip_existing` reads of a results folder: every index, and the embedding files
    of the runs that wrote none (a run's Parquet files where it has them: two of their columns
    are read, not the vectors; else its TFRecords)."""

    indexes: list[str]
    tfrecords: list[str]
    parquet: list[str]

    @property
    def unindexed_runs(self) -> list[str]:
        return sorted({embeddings_run(path) for path in (*self.tfrecords, *self.parquet)})


def history_files(output: str) -> HistoryFiles:
    """Files named without a run id come from before runs had ids, and their records carry no
    fingerprint, so they never skip anything and are left out."""
    embeddings, indexes = (
        sorted(metadata.path for metadata in result.metadata_list)
        for result in FileSystems.match(
            [FileSystems.join(output, f"{EMBEDDINGS_PREFIX}-*"), index_pattern(output)]
        )
    )
    indexed = {shard_run(path, INDEX_PREFIX, INDEX_SUFFIX) for path in indexes} - {None}
    tfrecords: dict[str, list[str]] = {}
    parquet: dict[str, list[str]] = {}
    for path in embeddings:
        run = embeddings_run(path)
        if run is not None and run not in indexed:
            runs = parquet if path.endswith(PARQUET_SUFFIX) else tfrecords
            runs.setdefault(run, []).append(path)
    return HistoryFiles(
        indexes,
        [path for run, paths in tfrecords.items() if run not in parquet for path in paths],
        [path for paths in parquet.values() for path in paths],
    )


class _HistoryFilesFn(beam.DoFn):
    def process(self, output: str) -> Iterator[str]:
        files = history_files(output)
        unindexed = len(files.tfrecords) + len(files.parquet)
        if unindexed:
            logger.warning(
                "%d embedding files in %s belong to runs without an index; every --skip_existing "
                "run reads them until `python -m pipeline.index --output %s` indexes them",
                unindexed,
                output,
                output,
            )
        yield from files.indexes
        for path in files.tfrecords:
            yield beam.pvalue.TaggedOutput(UNINDEXED_TFRECORDS, path)
        for path in files.parquet:
            yield beam.pvalue.TaggedOutput(UNINDEXED_PARQUET, path)


@dataclasses.dataclass
class ReadHistory(beam.PTransform):
    """(uri, fingerprint) of what the runs in `output` embedded, none if it holds no run: the
    index of each run that wrote one, and the embedding files of those that did not. Which is
    which is decided when the job runs, from the folder's listing."""

    output: str

    def __post_init__(self):
        super().__init__()

    def expand(self, pbegin):
        files = (
            pbegin
            | "HistoryFolder" >> beam.Create([self.output])
            | "HistoryFiles"
            >> beam.ParDo(_HistoryFilesFn()).with_outputs(
                UNINDEXED_TFRECORDS, UNINDEXED_PARQUET, main="indexes"
            )
        )
        from_indexes = files.indexes | "ReadIndexes" >> ReadIndexFiles()
        from_vectors = (
            files[UNINDEXED_TFRECORDS]
            | "ReadUnindexed" >> beam.io.ReadAllFromTFRecord()
            | "BatchUnindexed"
            >> beam.BatchElements(min_batch_size=DECODE_BATCH, max_batch_size=DECODE_BATCH)
            | "UnindexedVersions" >> beam.ParDo(_EarlierFn())
        )
        from_parquet = (
            files[UNINDEXED_PARQUET]
            | "ReadUnindexedParquet"
            >> beam.io.ReadAllFromParquetBatched(columns=["uri", "fingerprint"])
            | "UnindexedParquetVersions"
            >> beam.FlatMap(lambda table: table_rows(table, "uri", "fingerprint"))
        )
        return (from_indexes, from_vectors, from_parquet) | "AllEarlier" >> beam.Flatten()


def choose(
    matched: Iterable[Versioned], earlier: Iterable[str], once_per_uri: bool
) -> tuple[list[Versioned], int]:
    """The versions of one URI to embed, and how many were skipped as already embedded."""
    versions = list(matched)[:1] if once_per_uri else list(matched)
    known = set(earlier) - {""}
    new = [
        version
        for version in versions
        if not any(same_version(version.fingerprint, done) for done in known)
    ]
    return new, len(versions) - len(new)


class _ChooseFn(beam.DoFn):
    def __init__(self, once_per_uri: bool, count_matched: bool):
        self._once_per_uri = once_per_uri
        self._count_matched = count_matched

    def process(self, element: tuple[str, dict[str, Iterable]]) -> Iterator[Versioned]:
        _, groups = element
        new, skipped = choose(groups[MATCHED], groups.get(EARLIER, ()), self._once_per_uri)
        if self._count_matched:
            count("matched", len(new) + skipped)
        if skipped:
            count("skipped", skipped)
        yield from new


@dataclasses.dataclass
class KeepNew(beam.PTransform):
    """Input: {'matched': values with .uri and .fingerprint, 'earlier': (uri, fingerprint)};
    'earlier' may be left out. Outputs the matched values not already embedded.

    once_per_uri: a URI matched several times (two globs, a glob and a manifest) is one image.
    count_matched: whether this step is where the job counts its matched images.
    """

    once_per_uri: bool = True
    count_matched: bool = True

    def __post_init__(self):
        super().__init__()

    def expand(self, inputs):
        keyed = {MATCHED: inputs[MATCHED] | "ByUri" >> beam.Map(lambda value: (value.uri, value))}
        if EARLIER in inputs:
            keyed[EARLIER] = inputs[EARLIER]
        return (
            keyed
            | "JoinEarlier" >> beam.CoGroupByKey()
            | "Choose" >> beam.ParDo(_ChooseFn(self.once_per_uri, self.count_matched))
        )
