"""ListFiles: globs -> MatchedFile (uri, fingerprint), a gs:// glob listed in parallel.

Beam's `MatchAll` lists a whole glob as one element: one worker pages through every object and
holds the full list before anything is read. Here a gs:// glob is split at the path levels
under its fixed prefix: each level is listed with `delimiter="/"`, its objects are emitted as
they come, and each sub-prefix that can still hold a match becomes an element of its own, spread
over the workers by a reshuffle. After `SPLIT_LEVELS` levels each remaining prefix is listed
whole, page by page. No element holds more than one page of entries; the fingerprints carry each
object's generation. Globs on other filesystems keep Beam's `MatchAll`.

Matching is Beam's own (`FileSystem.translate_pattern`: `*` stops at `/`, `**` does not), so a
glob matches the same files either way.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata, FileSystem
from apache_beam.metrics import Metrics

from transforms import gcs
from transforms.fingerprint import fingerprint
from transforms.records import METRICS_NAMESPACE, MatchedFile

# Path levels under a glob's fixed prefix that become elements of their own; then each prefix
# is listed whole.
SPLIT_LEVELS = 2


def is_folder_placeholder(path: str) -> bool:
    """Object stores list folder placeholders (empty objects named `DIR/`) among the files."""
    return path.endswith("/")


def matched_files(metadata: FileMetadata) -> Iterator[MatchedFile]:
    """The file a listing entry names, with its fingerprint; nothing for a folder placeholder."""
    if not is_folder_placeholder(metadata.path):
        yield MatchedFile(metadata.path, fingerprint(metadata))


class Prefix(NamedTuple):
    """Part of a gs:// glob to list: the objects of `bucket` whose names start with `prefix`."""

    pattern: str
    bucket: str
    prefix: str
    level: int  # path levels split below the glob's fixed prefix


def fixed_prefix(pattern: str) -> str:
    """The part of a glob before its first wildcard, as Beam's match takes it."""
    return re.match(r"^[^[*?]*", pattern).group(0)


def start(pattern: str) -> Prefix:
    bucket, name = gcs.split(fixed_prefix(pattern))
    return Prefix(pattern, bucket, name, 0)


def can_hold_match(pattern: str, prefix: str) -> bool:
    """Whether an object under `prefix` (a folder: `a/b/`) can match the glob `pattern`
    (`gs://bucket/...`). Only rules out what a path segment of the glob excludes."""
    _, name_pattern = gcs.split(pattern)
    segments = name_pattern.split("/")
    folders = prefix.rstrip("/").split("/")
    for depth, folder in enumerate(folders):
        if depth >= len(segments) - 1:
            return "**" in segments[-1]  # the glob's file name part is all that is left
        segment = segments[depth]
        if "**" in segment:
            return True
        if not re.match(FileSystem.translate_pattern(segment), folder):
            return False
    return True


class _ListFn(beam.DoFn):
    """Prefix -> the objects under it that match its glob, and (while splitting) its sub-prefixes
    that can hold a match. MatchedFiles from an earlier level pass through."""

    def __init__(self, split: bool):
        self._split = split
        self._elements = Metrics.counter(METRICS_NAMESPACE, "listing_elements")
        self._entries = Metrics.distribution(METRICS_NAMESPACE, "listing_entries_per_element")

    def process(self, element: Prefix | MatchedFile) -> Iterator[Prefix | MatchedFile]:
        if isinstance(element, MatchedFile):
            yield element
            return
        self._elements.inc()
        matches = re.compile(FileSystem.translate_pattern(element.pattern)).match
        entries = 0
        for entry in gcs.list_level(element.bucket, element.prefix, recursive=not self._split):
            if isinstance(entry, str):
                if can_hold_match(element.pattern, entry):
                    yield Prefix(element.pattern, element.bucket, entry, element.level + 1)
                continue
            entries += 1
            if matches(entry.uri) and not is_folder_placeholder(entry.uri):
                yield entry
        self._entries.update(entries)


@dataclasses.dataclass
class ListFiles(beam.PTransform):
    """Outputs a MatchedFile for every file the globs match (each glob's files once; a file two
    globs match appears twice, for the caller's join to merge)."""

    patterns: Sequence[str]

    def __post_init__(self):
        super().__init__()

    def expand(self, pbegin):
        on_gcs = [pattern for pattern in self.patterns if gcs.is_gcs(pattern)]
        others = [pattern for pattern in self.patterns if not gcs.is_gcs(pattern)]
        listed = []
        if others:
            listed.append(
                pbegin
                | "Patterns" >> beam.Create(others)
                | "MatchFiles" >> fileio.MatchAll()
                | "Fingerprints" >> beam.FlatMap(matched_files)
            )
        if on_gcs:
            parts = pbegin | "GcsPatterns" >> beam.Create([start(pattern) for pattern in on_gcs])
            for level in range(SPLIT_LEVELS):
                parts = (
                    parts
                    | f"ListLevel{level}" >> beam.ParDo(_ListFn(split=True))
                    | f"SpreadLevel{level}" >> beam.Reshuffle()
                )
            listed.append(parts | "ListPrefixes" >> beam.ParDo(_ListFn(split=False)))
        return listed | "AllListed" >> beam.Flatten(pipeline=pbegin.pipeline)
