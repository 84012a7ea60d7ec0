"""One self-contained HTML file people can look at: a card per record.

Server-side rendered cards (each with data-status / data-p / data-name / data-i) and a small plain
script that filters and sorts them by toggling the `hidden` attribute and moving nodes: no
templating in the browser, so 5,000 cards cost one HTML parse, and `content-visibility: auto`
keeps layout and image decoding to what is on screen. Everything the page needs is inside it:
thumbnails are JPEG data URIs (long side 160 px, quality 70, EXIF orientation applied, made with
`images.prepare_image`), styles and script are inline, and a Content-Security-Policy
(default-src 'none') forbids the page any request at view time. Links (GBIF, the service's page,
a map) are only followed when clicked.

The filter state lives in the URL fragment (#status=ok,error&min=0.8&sort=name&q=aloe) so a view
can be bookmarked, and so a test can load a filtered page in headless Chromium.

Every string from a record or a path goes through html.escape.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from plantid_cli.constants import PROVIDER_LABELS, RECORD_STATUSES, STATUS_WORDS
from plantid_cli.file_targets import replacing
from plantid_cli.outputs.readback import MISMATCH, locate, photo_paths
from plantid_cli.outputs.report import review
from plantid_cli.outputs.report.assets import HEAD, LEAF_SVG, PIN_SVG, SCRIPT, STYLE
from plantid_cli.outputs.report.review_assets import REVIEW_SCRIPT, REVIEW_STYLE
from plantid_cli.outputs.report.thumbs import Thumb, make_thumbnail


@dataclass
class ReportStats:
    cards: int
    thumbnails: int
    missing: int  # photos that could not be read: placeholder shown
    bytes: int
    mismatched: int = 0  # a file by that name whose sha256 is not the record's: not shown


def write_report(
    records: Iterable[dict[str, Any]],
    output: Path,
    *,
    source: str | None = None,
    base: Path | None = None,
    credits_used: int | None = None,
    thumbnails: bool = True,
    workers: int | None = None,
    now: datetime | None = None,
    thumbnailer: Callable[[Path], Thumb | None] = make_thumbnail,
) -> ReportStats:
    """Write the report for `records` to `output` atomically (temp file + rename)."""
    records = sorted(records, key=lambda r: r["index"] if isinstance(r.get("index"), int) else 0)
    thumbs: dict[ThumbKey, Thumb | None] = {}
    missing = mismatched = 0
    if thumbnails:
        wanted: dict[ThumbKey, Path | None] = {}
        for record in records:
            key = _thumb_key(record)
            if key is not None and key not in wanted:
                # only a photo whose content is the record's (see results.locate)
                located = locate(record, base)
                wanted[key] = located.files[0] if located.files else None
                mismatched += located.problem == MISMATCH
        found = [(key, path) for key, path in wanted.items() if path is not None]
        with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2))) as pool:
            for (key, _), thumb in zip(
                found, pool.map(thumbnailer, [p for _, p in found]), strict=True
            ):
                thumbs[key] = thumb
        missing = sum(1 for key in wanted if thumbs.get(key) is None) - mismatched
    now = now or datetime.now().astimezone()
    output = Path(output)
    with replacing(output) as handle:  # file_targets.py: links, pipes, the old file's mode
        for chunk in render(records, thumbs, source=source, credits_used=credits_used, now=now):
            handle.write(chunk)
    made = sum(1 for t in thumbs.values() if t)
    return ReportStats(len(records), made, missing, output.stat().st_size, mismatched)


ThumbKey = tuple[str, str]


def _thumb_key(record: dict[str, Any]) -> ThumbKey | None:
    """A thumbnail belongs to a name *and* a content: two records naming the same file with
    different sha256s (edited between runs) never share one."""
    paths = photo_paths(record)
    return (paths[0], str(record.get("sha256"))) if paths else None


def estimated_credits(records: list[dict[str, Any]]) -> int:
    """Answers that did not come from the cache: one credit per service that answered (an
    unusable answer too: the service charged for it). A `--provider both` record was bought
    from each service, so it counts each one in `providers` (the run's own summary counts the
    calls it paid for; from the records this is the same number)."""
    return sum(_charged_calls(r) for r in records if not r.get("cached"))


def _charged_calls(record: dict[str, Any]) -> int:
    providers = record.get("providers")
    if isinstance(providers, dict) and providers:
        return sum(
            1
            for entry in providers.values()
            if isinstance(entry, dict)
            and not entry.get("cached")
            and entry.get("status") in ("ok", "not_plant", "bad_response", "unusable")
        )
    error = record.get("error") or {}
    return int(record.get("status") in ("ok", "not_plant") or error.get("code") == "bad_response")


# --------------------------------------------------------------------------------------------
# rendering


def render(
    records: list[dict[str, Any]],
    thumbs: dict[ThumbKey, Thumb | None],
    *,
    source: str | None,
    credits_used: int | None,
    now: datetime,
) -> Iterable[str]:
    counts = Counter(str(r.get("status")) for r in records)
    credits = estimated_credits(records) if credits_used is None else credits_used
    title = "Plant identifications" + (f" — {source}" if source else "")
    head = HEAD.replace("%TITLE%", escape(title)).replace("%STYLE%", STYLE + REVIEW_STYLE)
    unit = "specimens" if any("specimen" in r for r in records) else "photos"
    yield head.replace("<body>", f'<body data-page="{review.page_id(records)}" data-unit="{unit}">')
    yield '<header class="top"><div class="wrap">'
    yield f"<h1>Plant identifications <small>{review.counts_heading(records)}</small></h1>"
    meta = [f"generated {escape(now.strftime('%Y-%m-%d %H:%M %Z').strip())}"]
    span = _date_span(records)
    if span:
        meta.append(f"identified {escape(span)}")
    if source:
        meta.append(f"from <code>{escape(source)}</code>")
    yield f'<p class="meta">{" · ".join(meta)}</p><ul class="stats">'
    for status in RECORD_STATUSES:
        yield (
            f'<li class="st-{status}"><b>{counts.get(status, 0):,}</b> {STATUS_WORDS[status]}</li>'
        )
    cached = sum(1 for r in records if r.get("cached"))
    degraded = sum(1 for r in records if r.get("degraded"))
    yield f"<li><b>{cached:,}</b> from cache</li>"
    if degraded:
        yield f'<li class="st-degraded"><b>{degraded:,}</b> degraded</li>'
    yield (
        f'<li title="answers that did not come from the cache"><b>{credits:,}</b> '
        "credits used</li></ul></div></header>"
    )
    yield review.checklist_summary(records)
    yield _controls(counts)
    yield review.review_panel()
    yield '<main class="wrap"><p id="empty" hidden>No photo matches these filters.</p>'
    yield '<div id="cards">'
    for record in records:
        key = _thumb_key(record)
        yield _card(record, thumbs.get(key) if key is not None else None)
    yield "</div></main>"
    yield f"<script>{SCRIPT}\n{REVIEW_SCRIPT}</script></body></html>\n"


def _controls(counts: Counter[str]) -> str:
    chips = "".join(
        f'<label class="chip st-{status}"><input type="checkbox" name="status" '
        f'value="{status}" checked> {STATUS_WORDS[status]} '
        f'<span class="n">{counts.get(status, 0):,}</span></label>'
        for status in RECORD_STATUSES
    )
    return (
        '<nav class="controls"><div class="wrap">'
        f'<div class="chips" role="group" aria-label="status">{chips}</div>'
        '<label class="range">probability ≥ <input type="range" id="min" min="0" max="100" '
        'step="5" value="0"> <output id="minv">0%</output></label>'
        '<label>sort <select id="sort"><option value="input">photo order</option>'
        '<option value="p-desc">most probable first</option>'
        '<option value="p-asc">least probable first</option>'
        '<option value="name">name A–Z</option></select></label>'
        '<input type="search" id="q" placeholder="search names, families, files…" '
        'aria-label="search">'
        '<span id="count" aria-live="polite"></span>'
        "</div></nav>"
    )


def _card(record: dict[str, Any], thumb: Thumb | None) -> str:
    status = str(record.get("status"))
    if status not in STATUS_WORDS:
        status = "error"
    best = record.get("best") or {}
    probability = _probability(best.get("probability"))
    name = str(best.get("scientific_name") or "")
    index = record.get("index") if isinstance(record.get("index"), int) else 0
    paths = photo_paths(record)
    path = paths[0] if paths else ""
    attrs = (
        f'class="card st-{status}" data-status="{status}" data-i="{index}" '
        f'data-name="{escape(name.lower())}"'
        + (f' data-p="{probability:.4f}"' if probability is not None else "")
        + (f' data-machine="{escape(name)}"' if name else "")
        + review.card_attrs(record)
    )
    parts = [f"<article {attrs}>", _thumb_html(thumb, path)]
    parts.append('<div class="body">')
    parts.append(review.specimen_line(record))
    badge = f'<span class="badge st-{status}">{STATUS_WORDS[status]}</span>'
    if status == "error":
        error = record.get("error") or {}
        parts.append(f'<h2 class="title">Not identified {badge}</h2>')
        code = escape(str(error.get("code") or "error"))
        message = escape(str(error.get("message") or "no message"))
        parts.append(f'<p class="error"><code>{code}</code> {message}</p>')
    elif status == "not_plant" or not name:
        parts.append(f'<h2 class="title">Not a plant {badge}</h2>')
        is_plant = _probability((record.get("is_plant") or {}).get("probability"))
        if is_plant is not None:
            parts.append(f'<p class="common">plant probability {_pct(is_plant)}</p>')
    else:
        authorship = best.get("authorship")
        auth = f' <span class="auth">{escape(str(authorship))}</span>' if authorship else ""
        parts.append(f'<h2 class="title"><i>{escape(name)}</i>{auth} {badge}</h2>')
        common = [str(c) for c in best.get("common_names") or [] if c]
        if common:
            parts.append(f'<p class="common">{escape(" · ".join(common[:4]))}</p>')
        if probability is not None:
            parts.append(_bar(probability))
        taxo = [escape(str(best[k])) for k in ("family", "genus") if best.get(k)]
        if taxo:
            parts.append(f'<p class="taxo">{" › ".join(taxo)}</p>')
    others = [
        s
        for s in record.get("suggestions") or []
        if isinstance(s, dict) and s.get("scientific_name") and s.get("scientific_name") != name
    ]
    others.sort(key=lambda s: -(_probability(s.get("probability")) or 0.0))
    if others:
        label = "suggestions" if status != "ok" else "also"
        items = " · ".join(
            f"<i>{escape(str(s['scientific_name']))}</i>"
            + (
                f" <span>{_pct(p)}</span>"
                if (p := _probability(s.get("probability"))) is not None
                else ""
            )
            for s in others[:5]
        )
        parts.append(f'<p class="others"><span class="lbl">{label}</span> {items}</p>')
    parts.append(review.verification_badge(record))
    parts.append(_footer(record, best, status))
    file_name = os.path.basename(path) or path
    more = f" +{len(paths) - 1} more" if len(paths) > 1 else ""
    if record.get("specimen") is not None:  # a specimen: its folder, its photos by name
        names = ", ".join(os.path.basename(p) for p in paths)
        file_name, more, path = str(record.get("path") or ""), f": {names}", " · ".join(paths)
    # <bdi>: a name holding a right-to-left override (U+202E) turns only itself around, never
    # the text after it ("+2 more", the next card: red team, session 19)
    shown = f"<bdi>{escape(file_name)}</bdi>{escape(more)}"
    parts.append(f'<p class="path" title="{escape(path)}">{shown}</p>')
    parts.append(review.review_bar(record))
    parts.append("</div></article>")
    return "".join(parts)


def _thumb_html(thumb: Thumb | None, path: str) -> str:
    if thumb is None:
        return (
            f'<div class="thumb none" title="photo not available: {escape(path)}">'
            f"{LEAF_SVG}<span>no photo</span></div>"
        )
    return (
        f'<div class="thumb"><img src="{thumb.uri}" width="{thumb.width}" '
        f'height="{thumb.height}" alt="{escape(os.path.basename(path))}" decoding="async" '
        'loading="lazy"></div>'
    )


def _bar(probability: float) -> str:
    level = "hi" if probability >= 0.8 else "mid" if probability >= 0.5 else "lo"
    width = max(0.0, min(100.0, probability * 100))
    return (
        f'<div class="prob {level}"><div class="bar"><span style="width:{width:.1f}%">'
        f"</span></div><b>{_pct(probability)}</b></div>"
    )


#: `agreement` of a --provider both record, as the report's tooltip says it.
AGREEMENT_WORDS = {
    "species": "Plant.id and Pl@ntNet name the same species",
    "genus": "Plant.id and Pl@ntNet name the same genus, not the same species",
    "differ": "Plant.id and Pl@ntNet name different genera",
}


def _footer(record: dict[str, Any], best: dict[str, Any], status: str) -> str:
    provider = str(record.get("provider") or "")
    bits = [f'<span class="tag prov">{escape(PROVIDER_LABELS.get(provider, provider))}</span>']
    if record.get("degraded"):
        bits.append(
            '<span class="tag warn" title="answered by the fallback service">degraded</span>'
        )
    if record.get("cached"):
        bits.append('<span class="tag">cached</span>')
    token = record.get("agreement")
    if token in AGREEMENT_WORDS:  # --provider both
        bits.append(
            f'<span class="tag agree-{token}" title="{AGREEMENT_WORDS[token]}">'
            f"agreement: {token}</span>"
        )
    location = record.get("location") or {}
    lat, lon = location.get("latitude"), location.get("longitude")
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
        href = f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=15/{lat:.6f}/{lon:.6f}"
        bits.append(
            f'<a class="tag" href="{escape(href)}" rel="noopener noreferrer" target="_blank" '
            f'title="position from {escape(str(location.get("source") or "?"))}">'
            f"{PIN_SVG}{lat:.5f}, {lon:.5f}</a>"
        )
    if record.get("taken_at"):
        bits.append(f'<span class="tag">{escape(str(record["taken_at"]).replace("T", " "))}</span>')
    links = []
    gbif = best.get("gbif_id")
    if status == "ok" and isinstance(gbif, (int, str)) and str(gbif).isdigit():
        links.append(_link(f"https://www.gbif.org/species/{gbif}", "GBIF"))
    url = best.get("url")
    if status == "ok" and isinstance(url, str) and urlsplit(url).scheme in ("http", "https"):
        host = urlsplit(url).hostname or ""
        label = (
            "Wikipedia"
            if host.endswith("wikipedia.org")
            else PROVIDER_LABELS.get(provider, host or "page")
        )
        links.append(_link(url, label))
    return f'<footer>{"".join(bits)}<span class="links">{"".join(links)}</span></footer>'


def _link(href: str, label: str) -> str:
    return (
        f'<a href="{escape(href)}" rel="noopener noreferrer" target="_blank">{escape(label)} ↗</a>'
    )


def _probability(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


def _pct(value: float) -> str:
    return f"{value:.0%}" if value >= 0.01 or value == 0 else "<1%"


def _date_span(records: list[dict[str, Any]]) -> str:
    days = sorted(
        str(r["identified_at"])[:10] for r in records if isinstance(r.get("identified_at"), str)
    )
    if not days:
        return ""
    return days[0] if days[0] == days[-1] else f"{days[0]} – {days[-1]}"


__all__ = ["ReportStats", "Thumb", "estimated_credits", "make_thumbnail", "render", "write_report"]
