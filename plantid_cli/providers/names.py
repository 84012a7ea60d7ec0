"""What a scientific name's own form says about its rank, for services that do not say it.

Why: Pl@ntNet sends names only (`scientificNameWithoutAuthor`), and records used to call every
one of them a `species`. Floras hold genus-only names, infraspecific taxa (`subsp.`, `var.`,
`f.`), hybrids (`×`) and cultivars (`'Atropurpureum'`); a botanist filtering on `rank` must not
take a variety or a hybrid formula for a species. The rules follow the botanical code's written
forms (ICN, ICNCP); a form they do not cover gives None (unknown), never a guess.
"""

from __future__ import annotations

import re

#: Connecting terms of infraspecific names (ICN Art. 24) and the rank each one names.
INFRASPECIFIC = {
    "subsp.": "subspecies",
    "ssp.": "subspecies",
    "nothosubsp.": "subspecies",
    "var.": "variety",
    "nothovar.": "variety",
    "subvar.": "subvariety",
    "f.": "form",
    "fo.": "form",
    "forma": "form",
    "nothof.": "form",
    "subf.": "subform",
}
#: The multiplication sign of hybrid names, and the letter x that stands for it in plain text.
HYBRID_SIGNS = ("×", "x", "X")
_CULTIVAR = re.compile(r"'[^']+'|‘[^’]+’|\bcv\.")
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f-]+\.?$")

#: Every value `name_rank` gives (README "Output": `rank`).
RANKS = ("genus", "species", "hybrid", "cultivar", *dict.fromkeys(INFRASPECIFIC.values()))


def name_rank(name: str) -> str | None:
    """The rank a scientific name's form shows: ``genus`` (one word), ``species`` (a binomial),
    ``subspecies``/``variety``/``form``/... (a connecting term), ``hybrid`` (a `×` name or
    formula), ``cultivar`` (a quoted epithet, ICNCP); None for a form none of these is."""
    tokens = name.split()
    if not tokens:
        return None
    if _CULTIVAR.search(name):
        return "cultivar"
    for token in tokens[1:]:
        if token.lower() in INFRASPECIFIC:
            return INFRASPECIFIC[token.lower()]
    if "×" in name or any(token in HYBRID_SIGNS for token in tokens[1:]):
        return "hybrid"
    if not all(_WORD.match(token) for token in tokens):
        return None
    if len(tokens) == 1:
        return "genus" if tokens[0][:1].isupper() else None
    if len(tokens) == 2 and tokens[0][:1].isupper() and tokens[1].islower():
        return "species"
    return None


def genus_of(name: str) -> str | None:
    """The genus a name begins with (a nothogenus keeps its sign: ``×Cupressocyparis``)."""
    tokens = name.split()
    if tokens and tokens[0] in HYBRID_SIGNS and len(tokens) > 1:
        return "×" + tokens[1]
    return tokens[0] if tokens else None
