"""`python -m pipeline.report --output DIR`: a page to look at a results folder (local or gs://):
the latest run's summary and failures, sampled images with their nearest neighbours, and groups
of near-duplicates, written to DIR/report.html."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from apache_beam.io.filesystems import FileSystems  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from pipeline import results  # noqa: E402
from pipeline.neighbours import duplicate_groups, nearest, unit_rows  # noqa: E402
from pipeline.report_page import MAX_GROUP_MEMBERS, MAX_GROUPS, Report, render  # noqa: E402
from pipeline.thumbnails import thumbnails  # noqa: E402

REPORT_FILE = "report.html"
DEFAULT_MAX_VECTORS = 300_000


class _UsageError(ValueError):
    pass


def _cosine(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"a cosine similarity in (0, 1], got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return value


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description=__doc__)
    parser.add_argument("--output", required=True, metavar="DIR", help="a results folder")
    parser.add_argument(
        "--queries", type=_count, default=12, metavar="N", help="images sampled; default: 12"
    )
    parser.add_argument(
        "--neighbours", type=_count, default=5, metavar="K", help="neighbours each; default: 5"
    )
    parser.add_argument(
        "--duplicate_cosine",
        type=_cosine,
        default=0.95,
        metavar="C",
        help="images at least this similar are near-duplicates; default: 0.95",
    )
    parser.add_argument(
        "--max_vectors",
        type=_count,
        default=DEFAULT_MAX_VECTORS,
        metavar="N",
        help="refuse folders holding more images than this (exact search on one machine); "
        f"default: {DEFAULT_MAX_VECTORS:,}",
    )
    parser.add_argument("--seed", type=int, default=0, help="which images are sampled")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    return parser


@contextlib.contextmanager
def _progress(quiet: bool) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet,
    )
    with progress:
        yield progress


def make_report(args: argparse.Namespace, progress: Progress) -> Report:
    output = args.output.rstrip("/") or "/"
    if not results.embedding_files(output):
        raise _UsageError(
            f"{output!r} holds no embeddings-*.tfrecord or embeddings-*.parquet files: "
            f"run `python -m pipeline.run --input ... --output {output}` first"
        )
    reading = progress.add_task("Reading vectors", total=None, note="")
    try:
        vectors = results.read_vectors(
            output,
            args.max_vectors,
            lambda done, total, rows: progress.update(
                reading, completed=done, total=total, note=f"{rows:,} records"
            ),
        )
    except results.TooManyVectorsError as exc:
        raise _UsageError(
            f"{output!r} holds {exc}: past --max_vectors, exact search on one machine takes too "
            "long. Search it where it scales: write the vectors to BigQuery (--output_table) and "
            "use VECTOR_SEARCH, or load the Parquet files into an approximate index (FAISS, "
            "ScaNN). Or raise --max_vectors."
        ) from None
    count = len(vectors.uris)
    start = time.perf_counter()
    width = vectors.matrix.shape[1] if count else 0
    unit = unit_rows(vectors.matrix)  # the vectors' own memory: only cosines are needed
    rng = np.random.default_rng(args.seed)
    queries = sorted(rng.choice(count, min(args.queries, count), replace=False).tolist())
    found = nearest(unit, queries, args.neighbours) if count > 1 else []
    pairs = progress.add_task("Near-duplicates", total=count, note="")
    groups = duplicate_groups(
        unit, args.duplicate_cosine, lambda done, total: progress.update(pairs, completed=done)
    )
    search_seconds = time.perf_counter() - start

    shown = {vectors.uris[i] for f in found for i in (f.query, *f.indices)}
    shown |= {vectors.uris[i] for g in groups[:MAX_GROUPS] for i in g[:MAX_GROUP_MEMBERS]}
    previews = progress.add_task("Thumbnails", total=len(shown), note="")
    pictures = thumbnails(
        shown, on_done=lambda done, total: progress.update(previews, completed=done)
    )
    summary = results.read_summary(output)
    failures = results.read_failures(output, summary["run"]) if summary else []
    return Report(
        output=output,
        model=vectors.model,
        vectors=count,
        width=width,
        files=vectors.files,
        left_out=vectors.left_out,
        summary=summary,
        failures=failures,
        neighbours=found,
        groups=groups,
        uris=vectors.uris,
        thumbnails=pictures,
        duplicate_cosine=args.duplicate_cosine,
        search_seconds=search_seconds,
        max_vectors=args.max_vectors,
    )


def write_report(output: str, page: str) -> str:
    path = FileSystems.join(output.rstrip("/") or "/", REPORT_FILE)
    with FileSystems.create(path, mime_type="text/html") as handle:
        handle.write(page.encode("utf-8"))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = make_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        with _progress(args.quiet) as progress:
            report = make_report(args, progress)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = write_report(args.output, render(report))
    print(
        f"Report of {report.vectors:,} images; near-duplicate groups: {len(report.groups):,}; "
        f"failures of the latest run: {len(report.failures):,}. Open {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
