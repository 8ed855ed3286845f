"""Results earlier runs left in --output. A run adds to them only when told to
(--skip_existing), replaces them when told to (--overwrite), and otherwise stops before launch;
its own files carry its run id, so they never mix with another run's shards."""

from __future__ import annotations

from apache_beam.io.filesystems import FileSystems

from pipeline.summary import SUMMARY_FILE, SUMMARY_PREFIX
from transforms.index import INDEX_PREFIX
from transforms.write import EMBEDDINGS_PREFIX, FAILURES_PREFIX


def find(output: str, run: str | None = None) -> list[str]:
    """Paths of earlier results under `output` (of one run, if given; none if the folder does
    not exist)."""
    shards = f"{run}-*" if run else "*"
    names = [
        f"{EMBEDDINGS_PREFIX}-{shards}",
        f"{INDEX_PREFIX}-{shards}",
        f"{FAILURES_PREFIX}-{shards}",
        f"{SUMMARY_PREFIX}-{run or '*'}.json",
    ]
    if run is None:
        names.append(SUMMARY_FILE)  # the latest run's, whichever it was
    patterns = [FileSystems.join(output, name) for name in names]
    found = []
    for result in FileSystems.match(patterns):
        found.extend(metadata.path for metadata in result.metadata_list)
    return sorted(found)


def delete(paths: list[str]) -> None:
    if paths:
        FileSystems.delete(paths)
