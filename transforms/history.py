"""What earlier runs embedded, and the join that passes on only new and changed images.

A matched image is skipped when an earlier record holds its URI with the same fingerprint
(transforms/fingerprint.py). The skip is a CoGroupByKey of the matched files with the earlier
records, so a long history costs one shuffle, not a set held in every worker's memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import NamedTuple, Protocol

import apache_beam as beam

from transforms.counters import count
from transforms.image_records import DECODE_BATCH, ExampleDecoder

# Keys of the joined groups.
MATCHED = "matched"
EARLIER = "earlier"


class MatchedFile(NamedTuple):
    """A matched file, not read yet."""

    uri: str
    fingerprint: str


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


@dataclasses.dataclass
class ReadEarlierRecords(beam.PTransform):
    """(uri, fingerprint) of every embedding record in the files `pattern` matches; none if it
    matches nothing."""

    pattern: str

    def __post_init__(self):
        super().__init__()

    def expand(self, pbegin):
        return (
            pbegin
            | "EarlierPattern" >> beam.Create([self.pattern])
            | "ReadEarlier" >> beam.io.ReadAllFromTFRecord()
            | "BatchEarlier"
            >> beam.BatchElements(min_batch_size=DECODE_BATCH, max_batch_size=DECODE_BATCH)
            | "EarlierVersions" >> beam.ParDo(_EarlierFn())
        )


def choose(
    matched: Iterable[Versioned], earlier: Iterable[str], once_per_uri: bool
) -> tuple[list[Versioned], int]:
    """The versions of one URI to embed, and how many were skipped as already embedded."""
    versions = list(matched)[:1] if once_per_uri else list(matched)
    known = set(earlier) - {""}
    new = [version for version in versions if version.fingerprint not in known]
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
