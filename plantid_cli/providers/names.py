"""What a scientific name's own form says about its rank, for services that do not say it.

Why: Pl@ntNet sends names only (`scientificNameWithoutAuthor`), and records used to call every
one of them a `species`. Floras hold genus-only names, infraspecific taxa (`subsp.`, `var.`,
`f.`), hybrids (`×`) and cultivars (`'Atropurpureum'`); a botanist filtering on `rank` must not
take a variety or a hybrid formula for a species. The rules follow the botanical code's written
forms (ICN, ICNCP); a form they do not cover gives None (unknown), never a guess. Ranks are
Darwin Core terms (the XMP sidecar's `taxonRank` takes them as they are); whether a name is a
hybrid is a separate flag, the way GBIF and Catalogue of Life keep it.
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

#: Every value `name_rank` gives (README "Output": `rank`), all of them Darwin Core/GBIF rank
#: terms: a hybrid keeps the rank it has (`Mentha × piperita` is a species, a nothospecies)
#: and says so in `hybrid`, as GBIF and Catalogue of Life do.
RANKS = ("genus", "species", "cultivar", *dict.fromkeys(INFRASPECIFIC.values()))


def is_hybrid(name: str) -> bool:
    """A hybrid name (`Mentha × piperita`, `×Cupressocyparis leylandii`, `nothosubsp.`) or a
    hybrid formula (`Salix alba × Salix fragilis`)."""
    tokens = name.replace("×", " × ").split()
    return any(_is_sign(tokens, n) for n in range(len(tokens))) or any(
        token.lower().startswith("notho") for token in tokens[1:]
    )


def _is_sign(tokens: list[str], n: int) -> bool:
    """Whether tokens[n] is a hybrid sign: `×` anywhere, the letter x between epithets or
    before a capitalised genus (`x Cupressocyparis`)."""
    token = tokens[n]
    if token == "×":
        return True
    following = tokens[n + 1] if n + 1 < len(tokens) else ""
    return token in HYBRID_SIGNS and bool(following) and (n > 0 or following[:1].isupper())


def name_rank(name: str) -> str | None:
    """The rank a scientific name's form shows: ``genus`` (one word), ``species`` (a binomial,
    a nothospecies too), ``subspecies``/``variety``/``form``/... (a connecting term),
    ``cultivar`` (a quoted epithet, ICNCP); None for a form none of these is, a hybrid formula
    among them (two parents have no rank)."""
    if _CULTIVAR.search(name):
        return "cultivar"
    tokens = _unsigned(name)
    if tokens is None or not tokens:
        return None
    for token in tokens[1:]:
        if token.lower() in INFRASPECIFIC:
            return INFRASPECIFIC[token.lower()]
    if not all(_WORD.match(token) for token in tokens):
        return None
    if len(tokens) == 1:
        return "genus" if tokens[0][:1].isupper() else None
    if len(tokens) == 2 and tokens[0][:1].isupper() and tokens[1].islower():
        return "species"
    return None


def _unsigned(name: str) -> list[str] | None:
    """The name's words without hybrid signs (`Mentha × piperita` -> Mentha piperita), or
    None for a hybrid formula (what follows a sign inside the name is a second name, capital
    first, not an epithet)."""
    tokens = name.replace("×", " × ").split()
    words: list[str] = []
    for n, token in enumerate(tokens):
        if _is_sign(tokens, n):
            following = tokens[n + 1] if n + 1 < len(tokens) else ""
            if n > 0 and not following.islower():
                return None  # `A b × C d`, `A b × A. c`: a formula
            continue
        words.append(token)
    return words


def genus_of(name: str) -> str | None:
    """The genus a name begins with (a nothogenus keeps its sign: ``×Cupressocyparis``)."""
    tokens = name.replace("×", " × ").split()
    if tokens and tokens[0] in HYBRID_SIGNS:
        return "×" + tokens[1] if len(tokens) > 1 else None
    return tokens[0] if tokens else None
