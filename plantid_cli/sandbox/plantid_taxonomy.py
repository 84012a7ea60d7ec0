"""Plant.id's classification levels and details in the sandbox (`plantid_api.render_plantid`).

Why its own module: `data` picks species from a digest; this turns those picks into the
suggestions a `classification_level` asks for (`species`, `genus`: the picks' genera, `all`:
species plus the infraspecific taxa and cultivars the table knows) and renders every detail the
service documents (kindwise-api-client's `views.plant.json`) for any rank. Pure and
deterministic, like `data`.

Several languages (`language=en,de`): each localized detail (`common_names`, `url`,
`description`) becomes an object keyed by language, as the service's docs describe for its
multi-language answers; a language without text is `null` there (no English fallback).
`details.language` stays the first language asked, a string, as in a one-language answer.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from plantid_cli.sandbox import data

#: The details whose text depends on the language (views.plant.json: "localized": true).
LOCALIZED = frozenset({"common_names", "url", "description"})


class Taxon(NamedTuple):
    """One suggestion's taxon: a species of `data.SPECIES`, one of its infraspecific taxa or
    cultivars, or a genus."""

    name: str
    rank: str  # species | genus | subspecies | variety | cultivar
    authorship: str
    species: data.Species  # the table entry it belongs to (family, order, class...)
    gbif_id: int
    inaturalist_id: int
    common_names: dict[str, list[str]]
    synonyms: tuple[str, ...]

    @property
    def entity_id(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()[:16]


# fmt: off
#: Infraspecific taxa and cultivars below some species of the table (classification_level=all).
INFRASPECIFIC: dict[str, tuple[tuple[str, str, str, dict[str, list[str]]], ...]] = {
    "Quercus robur": (("Quercus robur subsp. robur", "subspecies", "", {"en": ["English oak"]}),),
    "Solanum lycopersicum": (
        ("Solanum lycopersicum var. cerasiforme", "variety", "(Alef.) Voss",
         {"en": ["Cherry tomato"], "de": ["Kirschtomate"]}),
    ),
    "Ocimum basilicum": (
        ("Ocimum basilicum 'Genovese'", "cultivar", "", {"en": ["Genovese basil"]}),
    ),
    "Lavandula angustifolia": (
        ("Lavandula angustifolia 'Hidcote'", "cultivar", "", {"en": ["Hidcote lavender"]}),
    ),
    "Hedera helix": (("Hedera helix subsp. helix", "subspecies", "", {"en": ["Common ivy"]}),),
    "Triticum aestivum": (
        ("Triticum aestivum subsp. spelta", "subspecies", "(L.) Thell.", {"en": ["Spelt"],
                                                                          "de": ["Dinkel"]}),
    ),
}
#: Genus authorities (classification_level=genus); a genus not named here is Linnaeus's.
GENUS_AUTHORS = {"Monstera": "Adans.", "Taraxacum": "F.H.Wigg.", "Solanum": "L."}
# fmt: on


def _number(seed: str, low: int, span: int) -> int:
    return low + int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big") % span


def species_taxon(index: int) -> Taxon:
    sp = data.SPECIES[index]
    return Taxon(sp.name, "species", sp.authorship, sp, sp.gbif_id, sp.inaturalist_id,
                 sp.common_names, sp.synonyms)  # fmt: skip


def genus_taxon(index: int) -> Taxon:
    sp = data.SPECIES[index]
    return Taxon(sp.genus, "genus", GENUS_AUTHORS.get(sp.genus, "L."), sp,
                 _number("gbif:" + sp.genus, 2_700_000, 100_000),
                 _number("inat:" + sp.genus, 40_000, 20_000), {}, ())  # fmt: skip


def infraspecific_taxa(index: int) -> list[Taxon]:
    sp = data.SPECIES[index]
    return [
        Taxon(name, rank, author, sp, _number("gbif:" + name, 8_000_000, 900_000),
              _number("inat:" + name, 100_000, 900_000), names, ())
        for name, rank, author, names in INFRASPECIFIC.get(sp.name, ())
    ]  # fmt: skip


def taxa_for(picks: list[tuple[int, float]], level: str | None) -> list[tuple[Taxon, float]]:
    """The suggestions of a classification level, probabilities descending.

    `genus`: each genus once, with the summed probability of its species (capped at the
    total). `all`: each species followed by its infraspecific taxa, each at 60 % of the
    species' probability, then re-sorted."""
    if level == "genus":
        sums: dict[str, tuple[int, float]] = {}
        for index, p in picks:
            genus = data.SPECIES[index].genus
            first, total = sums.get(genus, (index, 0.0))
            sums[genus] = (first, total + p)
        ranked = [(genus_taxon(i), round(min(p, 1.0), 4)) for i, p in sums.values()]
    else:
        ranked = [(species_taxon(i), p) for i, p in picks]
        if level == "all":
            for index, p in picks:
                ranked += [(t, round(p * 0.6, 4)) for t in infraspecific_taxa(index)]
    ranked.sort(key=lambda pair: -pair[1])
    return ranked


def _localized(taxon: Taxon, name: str, language: str, base_url: str) -> object:
    wiki = f"https://{language}.wikipedia.org/wiki/{taxon.name.replace(' ', '_')}"
    if name == "common_names":
        names = taxon.common_names.get(language)  # no fallback to English, like the service
        return list(names) if names else None
    if name == "url":
        return wiki
    if language != "en":  # description: English only in the sandbox
        return None
    text = f"{taxon.name} is a {taxon.rank} in the family {taxon.species.family}."
    return {"value": text, "citation": wiki, "license_name": "CC BY-SA 3.0",
            "license_url": "https://creativecommons.org/licenses/by-sa/3.0/"}  # fmt: skip


def _licensed(value: object) -> dict:
    return {"value": value, "citation": "plantid sandbox", "license_name": "CC0",
            "license_url": "https://creativecommons.org/publicdomain/zero/1.0/"}  # fmt: skip


def _plain(taxon: Taxon, name: str, base_url: str) -> object:
    sp = taxon.species
    if name == "taxonomy":
        taxonomy = {"class": sp.klass, "genus": sp.genus, "order": sp.order, "family": sp.family,
                    "phylum": "Tracheophyta", "kingdom": "Plantae"}  # fmt: skip
        return taxonomy
    if name == "name_authority":  # "the scientific name and authority" (views.plant.json)
        return f"{taxon.name} {taxon.authorship}".strip()
    if name == "rank":
        return taxon.rank
    if name == "gbif_id":
        return taxon.gbif_id
    if name == "inaturalist_id":
        return taxon.inaturalist_id
    if name == "synonyms":
        return list(taxon.synonyms)
    if name == "image":
        return _licensed(f"{base_url}/media/kb/{taxon.entity_id}.jpg")
    if name == "images":
        return [_licensed(f"{base_url}/media/kb/{taxon.entity_id}.{n}.jpg") for n in (1, 2)]
    seed = _number(sp.name, 0, 1 << 16)
    if name == "edible_parts":
        return ["leaves", "fruit"] if seed % 3 == 0 else None
    if name == "propagation_methods":
        return ["seeds", "cuttings"][: 1 + seed % 2]
    if name == "watering":
        return {"min": 1 + seed % 2, "max": 2 + seed % 2}
    if name in ("best_watering", "best_light_condition", "best_soil_type", "common_uses"):
        return f"{name.replace('_', ' ').capitalize()} for {taxon.name} (sandbox text)."
    if name == "toxicity":
        return f"{taxon.name} is not known to be toxic (sandbox text)." if seed % 2 else None
    return None  # asked for but unknown: null, as the service does


def details_for(
    taxon: Taxon, details: list[str], languages: list[str], base_url: str
) -> dict[str, object]:
    """`details` of one suggestion: each name asked for (unknown ones null), then `language`
    and `entity_id`, as the service sends them."""
    out: dict[str, object] = {}
    for name in details:
        if name in LOCALIZED:
            values = {lang: _localized(taxon, name, lang, base_url) for lang in languages}
            out[name] = values[languages[0]] if len(languages) == 1 else values
        else:
            out[name] = _plain(taxon, name, base_url)
    out["language"] = languages[0]
    out["entity_id"] = taxon.entity_id
    return out


def suggestions(
    picks: list[tuple[int, float]],
    *,
    level: str | None,
    details: list[str],
    languages: list[str],
    with_similar: bool,
    base_url: str,
) -> list[dict]:
    """`result.classification.suggestions` for a stored identification's picks."""
    out = []
    for taxon, probability in taxa_for(picks, level):
        similar = data.similar_images(taxon.species, base_url) if with_similar else []
        out.append({
            "id": taxon.entity_id,
            "name": taxon.name,
            "probability": probability,
            "similar_images": similar,
            "details": details_for(taxon, details, languages, base_url),
        })  # fmt: skip
    return out
