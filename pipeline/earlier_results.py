"""Results earlier runs left in --output. A run adds to them only when told to
(--skip_existing), replaces them when told to (--overwrite), and otherwise stops before launch;
its own files carry its run id, so they never mix with another run's shards."""

from __future__ import annotations

from apache_beam.io.filesystems import FileSystems

from pipeline.summary import SUMMARY_FILE, SUMMARY_PREFIX
from transforms.write import EMBEDDINGS_PREFIX, FAILURES_PREFIX


def embeddings_pattern(output: str) -> str:
    """Every embedding record any run wrote in `output`."""
    return FileSystems.join(output, f"{EMBEDDINGS_PREFIX}-*.tfrecord")


def find(output: str, run: str | None = None) -> list[str]:
    """Paths of earlier results under `output` (of one run, if given; none if the folder does
    not exist)."""
    if run is None:
        patterns = [
            FileSystems.join(output, f"{EMBEDDINGS_PREFIX}-*"),
            FileSystems.join(output, f"{FAILURES_PREFIX}-*"),
            FileSystems.join(output, SUMMARY_FILE),
            FileSystems.join(output, f"{SUMMARY_PREFIX}-*.json"),
        ]
    else:
        patterns = [
            FileSystems.join(output, f"{EMBEDDINGS_PREFIX}-{run}-*"),
            FileSystems.join(output, f"{FAILURES_PREFIX}-{run}-*"),
            FileSystems.join(output, f"{SUMMARY_PREFIX}-{run}.json"),
        ]
    found = []
    for result in FileSystems.match(patterns):
        found.extend(metadata.path for metadata in result.metadata_list)
    return sorted(found)


def delete(paths: list[str]) -> None:
    if paths:
        FileSystems.delete(paths)
