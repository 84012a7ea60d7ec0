"""The report's herbarium parts: specimen headings, the checklist summary, and the review bar
a botanist uses to accept, reject or correct each card.

Why in the page itself: no identification may enter a collection database before a person has
looked at it, and the person looks at the report. The review needs no server: decisions live
in the browser's localStorage (keyed by the page's own id, a hash of its records' sha256s, so
two reports never mix), survive reloads, and leave as a decisions CSV
(``sha256,decision,scientific_name,identified_by,remarks``) that `plantid review apply` reads.
A report of an already reviewed results file starts from the decisions in its records.

Keyboard (when no text box has the focus): j/k or the arrow keys move between cards, a accepts,
r rejects, c corrects (type the name, Enter keeps it, Esc leaves it), u clears, e exports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from html import escape
from typing import Any

from plantid_cli.outputs.checklist import checklist
from plantid_cli.outputs.review.verify import identification


def page_id(records: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for record in records:
        digest.update(str(record.get("sha256") or record.get("path") or "").encode("utf-8"))
    return digest.hexdigest()[:16]


def counts_heading(records: list[dict[str, Any]]) -> str:
    """`12 specimens · 30 photos` when the run grouped photos into specimens, else `30 photos`."""
    photos = sum(max(1, len(r.get("paths") or [])) for r in records)
    if any("specimen" in r for r in records):
        return f"{len(records):,} specimens · {photos:,} photos"
    return f"{len(records):,} photos"


def specimen_line(record: Mapping[str, Any]) -> str:
    """The card's specimen heading (catalogue number and folder), or "" for a plain photo."""
    number = record.get("catalog_number")
    folder = record.get("specimen")
    if number is None and folder is None:
        return ""
    parts = []
    if number:
        parts.append(f'<b class="catno">{escape(str(number))}</b>')
    else:
        parts.append('<b class="catno none">no catalogue number</b>')
    if folder and folder != number:
        parts.append(f'<span class="folder">{escape(str(folder))}</span>')
    photos = len(record.get("paths") or []) or 1
    if folder is not None:
        parts.append(f"<span>{photos} photo{'s' if photos != 1 else ''}</span>")
    return f'<p class="specimen">{" · ".join(parts)}</p>'


def card_attrs(record: Mapping[str, Any]) -> str:
    """data-sha (what a decision names) and data-decision (a decision already applied)."""
    sha256 = record.get("sha256")
    if not isinstance(sha256, str) or not sha256:
        return ""
    attrs = f' data-sha="{escape(sha256)}"'
    verification = record.get("verification") or {}
    if verification.get("decision"):
        attrs += f' data-decision="{escape(str(verification["decision"]))}"'
        if verification.get("scientific_name"):
            attrs += f' data-vname="{escape(str(verification["scientific_name"]))}"'
        if verification.get("remarks"):
            attrs += f' data-vremarks="{escape(str(verification["remarks"]))}"'
    return attrs


def verification_badge(record: Mapping[str, Any]) -> str:
    """What a person already decided (a report of a reviewed results file)."""
    verification = record.get("verification") or {}
    decision = verification.get("decision")
    if not decision:
        return ""
    by = escape(str(verification.get("by") or "a reviewer"))
    found = identification(record)
    if decision == "rejected" or found is None:
        return f'<p class="verified rejected">rejected by {by}</p>'
    what = "corrected" if decision == "corrected" else "verified"
    return f'<p class="verified">{what} by {by} · <i>{escape(found.scientific_name)}</i></p>'


def review_bar(record: Mapping[str, Any]) -> str:
    """The card's accept / reject / correct controls (only a record with a sha256 has them)."""
    if not record.get("sha256"):
        return ""
    can_accept = record.get("status") == "ok" and (record.get("best") or {}).get("scientific_name")
    accept = (
        '<button type="button" class="rv-accept" title="accept (a)">accept</button>'
        if can_accept
        else ""
    )
    return (
        '<div class="review" role="group" aria-label="review">'
        f"{accept}"
        '<button type="button" class="rv-reject" title="reject (r)">reject</button>'
        '<button type="button" class="rv-correct" title="correct (c)">correct…</button>'
        '<input type="text" class="rv-name" placeholder="correct name, Enter" hidden '
        'aria-label="corrected scientific name">'
        '<input type="text" class="rv-remarks" placeholder="remarks" aria-label="remarks">'
        '<span class="rv-state" aria-live="polite"></span>'
        "</div>"
    )


def review_panel() -> str:
    """The page-wide review controls: the reviewer's name, progress, export."""
    return (
        '<section class="reviewpanel wrap" aria-label="review">'
        '<label>identified by <input type="text" id="rv-by" placeholder="your name" '
        'autocomplete="name"></label>'
        '<span id="rv-progress" aria-live="polite"></span>'
        '<button type="button" id="rv-export" title="export decisions (e)">export decisions CSV'
        "</button>"
        '<a id="rv-download" hidden download="decisions.csv">decisions.csv</a>'
        '<button type="button" id="rv-clear" title="forget every decision on this page">clear'
        "</button>"
        '<span class="keys">keys: j/k move · a accept · r reject · c correct · u clear · '
        "e export</span>"
        '<textarea id="rv-csv" readonly hidden aria-label="decisions CSV"></textarea>'
        "</section>"
    )


def checklist_summary(records: list[dict[str, Any]]) -> str:
    """The survey's list of taxa (outputs/checklist.py), at the top of the page."""
    rows = checklist(records)
    if not rows:
        return ""
    body = "".join(
        "<tr>"
        f"<td><i>{escape(row['scientific_name'])}</i></td><td>{escape(row['family'])}</td>"
        f"<td>{row['specimens']}</td><td>{row['photos']}</td>"
        f"<td>{_pct(row['best_probability'])}</td><td>{_pct(row['mean_probability'])}</td>"
        f"<td>{row['verified']}</td></tr>"
        for row in rows
    )
    return (
        '<details class="checklist wrap" open><summary>'
        f"checklist: {len(rows)} taxa</summary><table><thead><tr><th>name</th><th>family</th>"
        "<th>specimens</th><th>photos</th><th>best</th><th>mean</th><th>verified</th></tr>"
        f"</thead><tbody>{body}</tbody></table></details>"
    )


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"
