"""Results an earlier run left in --output. A run never mixes its files with them: it stops
before launch, or with --overwrite deletes them first, so that `embeddings-*.tfrecord` never
holds two runs' shards (whose counts may differ) at once."""

from __future__ import annotations

from apache_beam.io.filesystems import FileSystems

from pipeline.summary import SUMMARY_FILE
from transforms.write import EMBEDDINGS_PREFIX, FAILURES_PREFIX


def find(output: str) -> list[str]:
    """Paths of earlier results under `output` (none if the folder does not exist)."""
    patterns = [
        FileSystems.join(output, f"{EMBEDDINGS_PREFIX}-*"),
        FileSystems.join(output, f"{FAILURES_PREFIX}-*"),
        FileSystems.join(output, SUMMARY_FILE),
    ]
    found = []
    for result in FileSystems.match(patterns):
        found.extend(metadata.path for metadata in result.metadata_list)
    return sorted(found)


def delete(paths: list[str]) -> None:
    if paths:
        FileSystems.delete(paths)
