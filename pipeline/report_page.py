"""report.html: one self-contained page (styles inline, thumbnails as data: URIs, no script), so
it opens offline, from a laptop's disk or from a bucket."""

from __future__ import annotations

import dataclasses
import datetime
import html
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.neighbours import Neighbours
from pipeline.thumbnails import Thumbnail

# Rows of the failed-files table; the failure files hold them all.
MAX_FAILURE_ROWS = 500
# Near-duplicate groups shown, and members shown per group.
MAX_GROUPS = 100
MAX_GROUP_MEMBERS = 24

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d1d1f; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
.muted { color: #6e6e73; } code { font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 3px 10px 3px 0;
  text-align: left; vertical-align: top; border-bottom: 1px solid #e5e5ea; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.error { max-width: 60ch; overflow-wrap: anywhere; font-size: 12px; }
.row { display: flex; gap: 8px; align-items: flex-start; margin: 10px 0; flex-wrap: wrap; }
.row.query { border-bottom: 1px solid #e5e5ea; padding-bottom: 10px; }
figure { margin: 0; width: 128px; }
figure img, figure .missing { width: 128px; height: 128px; object-fit: contain;
  background: #f2f2f7; border-radius: 4px; display: block; }
figure.query img, figure.query .missing { outline: 3px solid #0071e3; }
figure .missing { display: flex; align-items: center; justify-content: center;
  color: #6e6e73; font-size: 12px; text-align: center; }
figcaption { font-size: 11px; overflow-wrap: anywhere; max-height: 3em; overflow: hidden; }
.score { font-size: 12px; font-variant-numeric: tabular-nums; font-weight: 600; }
.group { border: 1px solid #e5e5ea; border-radius: 6px; padding: 8px; margin: 10px 0; }
"""


@dataclasses.dataclass(frozen=True)
class Report:
    output: str
    model: str
    vectors: int
    width: int
    files: int
    left_out: int
    summary: Mapping[str, Any] | None
    failures: Sequence[Mapping[str, str]]
    neighbours: Sequence[Neighbours]
    groups: Sequence[Sequence[int]]
    uris: Sequence[str]
    thumbnails: Mapping[str, Thumbnail]
    duplicate_cosine: float
    search_seconds: float
    max_vectors: int
    generated_at: datetime.datetime = dataclasses.field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC)
    )


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _figure(uri: str, thumbnail: Thumbnail | None, score: float | None, css: str = "") -> str:
    name = posixpath.basename(uri) or uri
    if thumbnail is not None and thumbnail.src:
        picture = f'<img src="{thumbnail.src}" alt="{_e(name)}" loading="eager">'
    else:
        why = thumbnail.problem if thumbnail is not None else "not read"
        picture = f'<div class="missing" role="img" title="{_e(why)}">no preview</div>'
    scored = f'<div class="score">{score:.4f}</div>' if score is not None else ""
    return (
        f'<figure class="{css}" data-uri="{_e(uri)}">{picture}'
        f'<figcaption title="{_e(uri)}">{_e(name)}</figcaption>{scored}</figure>'
    )


def _summary(report: Report) -> str:
    summary = report.summary
    if summary is None:
        return '<h2>Latest run</h2><p class="muted">No summary.json in this folder.</p>'
    rows = [
        ("run", summary.get("run", "")),
        ("matched", summary.get("matched", 0)),
        ("skipped (embedded before)", summary.get("skipped", 0)),
        ("embedded", summary.get("embedded", 0)),
        ("failed", summary.get("failed", 0)),
        ("seconds", summary.get("seconds", 0)),
        ("images per second", summary.get("images_per_second", 0)),
        ("model", summary.get("model", "")),
    ]
    cells = "".join(f'<tr><th>{_e(k)}</th><td class="n">{_e(v)}</td></tr>' for k, v in rows)
    return f'<h2>Latest run</h2><table id="summary">{cells}</table>'


def _failures(report: Report) -> str:
    summary = report.summary or {}
    by_reason = summary.get("failed_by_reason", {})
    if not report.failures and not by_reason:
        return '<h2>Failures</h2><p class="muted">The latest run had none.</p>'
    reasons = "".join(
        f'<tr><td>{_e(reason)}</td><td class="n">{_e(count)}</td></tr>'
        for reason, count in sorted(by_reason.items(), key=lambda item: -item[1])
    )
    shown = report.failures[:MAX_FAILURE_ROWS]
    files = "".join(
        f"<tr><td>{_e(f.get('uri', ''))}</td><td>{_e(f.get('stage', ''))}</td>"
        f'<td>{_e(f.get("reason", ""))}</td><td class="error">{_e(f.get("error", ""))}</td></tr>'
        for f in shown
    )
    more = ""
    if len(report.failures) > len(shown):
        more = (
            f'<p class="muted">and {len(report.failures) - len(shown):,} more in the '
            "failures-RUN-*.jsonl files.</p>"
        )
    return (
        "<h2>Failures</h2>"
        f'<table id="failure-reasons"><tr><th>reason</th><th>files</th></tr>{reasons}</table>'
        '<table id="failed-files"><tr><th>file</th><th>stage</th><th>reason</th>'
        f"<th>error</th></tr>{files}</table>{more}"
    )


def _neighbours(report: Report) -> str:
    if not report.neighbours:
        return '<h2>Nearest neighbours</h2><p class="muted">Fewer than two vectors.</p>'
    rows = []
    for found in report.neighbours:
        uri = report.uris[found.query]
        cells = [_figure(uri, report.thumbnails.get(uri), None, "query")]
        cells += [
            _figure(report.uris[i], report.thumbnails.get(report.uris[i]), score, "neighbour")
            for i, score in zip(found.indices, found.scores, strict=True)
        ]
        rows.append(f'<div class="row query">{"".join(cells)}</div>')
    return (
        f'<h2>Nearest neighbours</h2><p class="muted">{len(report.neighbours)} sampled images '
        "(outlined), each followed by its nearest by cosine similarity.</p>"
        f'<div id="neighbours">{"".join(rows)}</div>'
    )


def _groups(report: Report) -> str:
    intro = (
        f'<h2>Near-duplicates</h2><p class="muted">Groups of images linked by a cosine '
        f"similarity of at least {report.duplicate_cosine:g}: {len(report.groups):,}"
    )
    if not report.groups:
        return f'{intro}.</p><div id="duplicates"></div>'
    blocks = []
    for group in report.groups[:MAX_GROUPS]:
        members = group[:MAX_GROUP_MEMBERS]
        cells = "".join(
            _figure(report.uris[i], report.thumbnails.get(report.uris[i]), None) for i in members
        )
        hidden = len(group) - len(members)
        extra = f'<p class="muted">and {hidden} more</p>' if hidden else ""
        blocks.append(
            f'<div class="group" data-size="{len(group)}"><div class="muted">{len(group)} '
            f'images</div><div class="row">{cells}</div>{extra}</div>'
        )
    shown = f"; the largest {MAX_GROUPS} shown" if len(report.groups) > MAX_GROUPS else ""
    return f'{intro}{shown}.</p><div id="duplicates">{"".join(blocks)}</div>'


def _scale(report: Report) -> str:
    return (
        "<h2>Scale</h2><p>"
        f"{report.vectors:,} vectors of {report.width} floats, searched exactly on one machine "
        f"in {report.search_seconds:.1f} s. The pair search for near-duplicates grows with the "
        "square of the count, and this report reads every vector into memory, so it stops at "
        f"{report.max_vectors:,} vectors (<code>--max_vectors</code>). Beyond that, search where "
        "the vectors already are: <code>--output_table</code> puts them in BigQuery, whose "
        "<code>VECTOR_SEARCH</code> (with a vector index) finds neighbours at any size; or load "
        "the Parquet files into an approximate index (FAISS, ScaNN).</p>"
    )


def render(report: Report) -> str:
    left_out = (
        f" {report.left_out:,} images whose latest vector is of another model are left out."
        if report.left_out
        else ""
    )
    header = (
        f'<h1>Embeddings report</h1><p class="muted"><code>{_e(report.output)}</code>: '
        f"{report.vectors:,} images, the latest vector of each, from {report.files} files; model "
        f"<code>{_e(report.model)}</code>. Made "
        f"{report.generated_at:%Y-%m-%d %H:%M} UTC.{_e(left_out)}</p>"
    )
    body = "".join(
        (header, _summary(report), _failures(report), _neighbours(report), _groups(report))
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Embeddings report: {_e(report.output)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}{_scale(report)}</body></html>\n"
    )
