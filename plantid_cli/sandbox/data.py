"""Species table and answer shapes for the local sandbox (`plantid_cli.sandbox.server`).

Everything here is pure and deterministic: the same image digest always gives the same species,
the same probabilities and the same JSON. The table holds real species with plausible, fixed
identifiers (GBIF, iNaturalist, POWO); they are stable test data, not a botanical reference.

How a digest picks an answer (digest = sha256 of the decoded image bytes; for several images,
sha256 of their concatenated sha256 digests):

* Plant.id: species index = first 4 bytes (big endian) % len(SPECIES); top probability
  0.55..0.99 from byte 4; four more suggestions (same genus first, then same family, then others),
  probabilities strictly descending. Not-a-plant images get the same species at 0.10..0.29.
* Pl@ntNet: usually the same top species ("a second opinion that agrees"). When byte 6 % 5 == 0
  it names a different species instead: a sibling of the same genus when the table has one,
  otherwise Plant.id's second suggestion. Scores 0.35..0.94 for the top result. Asked for
  more than five (`nb-results`), results 6.. come from PLANTNET_TAIL (a hybrid, a genus, a
  variety, a cultivar, a subspecies, a nothogenus, a form), each score half the one before.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple


class Species(NamedTuple):
    name: str
    authorship: str
    family: str
    order: str
    klass: str
    gbif_id: int
    inaturalist_id: int
    powo_id: str
    common_names: dict[str, list[str]]
    synonyms: tuple[str, ...] = ()

    @property
    def genus(self) -> str:
        return self.name.split()[0]

    @property
    def entity_id(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()[:16]


_M, _L = "Magnoliopsida", "Liliopsida"

# fmt: off
SPECIES: tuple[Species, ...] = (
    Species("Aloe vera", "(L.) Burm.f.", "Asphodelaceae", "Asparagales", _L, 2777724, 58543,
            "532435-1", {"en": ["Aloe vera", "Barbados aloe", "Medicinal aloe"],
                         "de": ["Echte Aloe"], "fr": ["Aloès"], "cs": ["Aloe pravá"]},
            ("Aloe barbadensis", "Aloe vulgaris")),
    Species("Aloe arborescens", "Mill.", "Asphodelaceae", "Asparagales", _L, 2777729, 69209,
            "531939-1", {"en": ["Krantz aloe", "Candelabra aloe"], "de": ["Baumartige Aloe"]}),
    Species("Triticum aestivum", "L.", "Poaceae", "Poales", _L, 2706388, 59645, "430725-1",
            {"en": ["Common wheat", "Bread wheat"], "de": ["Weichweizen"],
             "fr": ["Blé tendre"], "cs": ["Pšenice setá"]}, ("Triticum sativum",)),
    Species("Triticum durum", "Desf.", "Poaceae", "Poales", _L, 2706350, 82351, "430747-1",
            {"en": ["Durum wheat"], "de": ["Hartweizen"], "fr": ["Blé dur"]}),
    Species("Leucojum vernum", "L.", "Amaryllidaceae", "Asparagales", _L, 2860409, 57510,
            "541197-1", {"en": ["Spring snowflake"], "de": ["Märzenbecher"],
                         "cs": ["Bledule jarní"]}),
    Species("Quercus robur", "L.", "Fagaceae", "Fagales", _M, 2878688, 56133, "298386-1",
            {"en": ["English oak", "Pedunculate oak"], "de": ["Stieleiche"],
             "fr": ["Chêne pédonculé"], "cs": ["Dub letní"]}, ("Quercus pedunculata",)),
    Species("Quercus petraea", "(Matt.) Liebl.", "Fagaceae", "Fagales", _M, 2880539, 56019,
            "297877-1", {"en": ["Sessile oak"], "de": ["Traubeneiche"], "cs": ["Dub zimní"]}),
    Species("Acer pseudoplatanus", "L.", "Sapindaceae", "Sapindales", _M, 3189870, 54858,
            "781913-1", {"en": ["Sycamore maple"], "de": ["Bergahorn"], "cs": ["Javor klen"]}),
    Species("Acer platanoides", "L.", "Sapindaceae", "Sapindales", _M, 3189846, 54857,
            "781894-1", {"en": ["Norway maple"], "de": ["Spitzahorn"], "fr": ["Érable plane"]}),
    Species("Taraxacum officinale", "F.H.Wigg.", "Asteraceae", "Asterales", _M, 5394567, 47602,
            "249252-1", {"en": ["Common dandelion"], "de": ["Gewöhnlicher Löwenzahn"],
                         "fr": ["Pissenlit"], "cs": ["Smetánka lékařská"]}),
    Species("Bellis perennis", "L.", "Asteraceae", "Asterales", _M, 3117424, 53239, "177011-1",
            {"en": ["Common daisy", "Lawn daisy"], "de": ["Gänseblümchen"],
             "fr": ["Pâquerette"]}),
    Species("Helianthus annuus", "L.", "Asteraceae", "Asterales", _M, 9206251, 57983,
            "119003-2", {"en": ["Common sunflower"], "de": ["Sonnenblume"],
                         "fr": ["Tournesol"]}),
    Species("Monstera deliciosa", "Liebm.", "Araceae", "Alismatales", _L, 2868241, 51018,
            "87373-1", {"en": ["Swiss cheese plant"], "de": ["Fensterblatt"]}),
    Species("Ficus elastica", "Roxb. ex Hornem.", "Moraceae", "Rosales", _M, 5361904, 128211,
            "853497-1", {"en": ["Rubber plant", "Rubber fig"], "de": ["Gummibaum"]}),
    Species("Ficus benjamina", "L.", "Moraceae", "Rosales", _M, 5361903, 69223, "853444-1",
            {"en": ["Weeping fig"], "de": ["Birkenfeige"]}),
    Species("Lavandula angustifolia", "Mill.", "Lamiaceae", "Lamiales", _M, 2927302, 61841,
            "449027-1", {"en": ["English lavender"], "de": ["Echter Lavendel"],
                         "fr": ["Lavande vraie"]}, ("Lavandula officinalis",)),
    Species("Ocimum basilicum", "L.", "Lamiaceae", "Lamiales", _M, 2927096, 63083, "450536-1",
            {"en": ["Basil", "Sweet basil"], "de": ["Basilikum"], "fr": ["Basilic"]}),
    Species("Urtica dioica", "L.", "Urticaceae", "Rosales", _M, 5361866, 50299, "856131-1",
            {"en": ["Stinging nettle"], "de": ["Große Brennnessel"], "cs": ["Kopřiva dvoudomá"]}),
    Species("Hedera helix", "L.", "Araliaceae", "Apiales", _M, 8351737, 53884, "94009-1",
            {"en": ["Common ivy", "English ivy"], "de": ["Gemeiner Efeu"], "fr": ["Lierre"]}),
    Species("Rosa canina", "L.", "Rosaceae", "Rosales", _M, 8395064, 77096, "731008-1",
            {"en": ["Dog rose"], "de": ["Hunds-Rose"], "fr": ["Églantier"]}),
    Species("Solanum lycopersicum", "L.", "Solanaceae", "Solanales", _M, 2930137, 58911,
            "316947-2", {"en": ["Tomato"], "de": ["Tomate"], "fr": ["Tomate"]},
            ("Lycopersicon esculentum",)),
    Species("Papaver rhoeas", "L.", "Papaveraceae", "Ranunculales", _M, 3189100, 49929,
            "674024-1", {"en": ["Common poppy", "Corn poppy"], "de": ["Klatschmohn"],
                         "fr": ["Coquelicot"]}),
)
# fmt: on

_TAIL = (0.55, 0.25, 0.11, 0.05)  # shares of the remaining probability for suggestions 2..5


def _related(top: int) -> list[int]:
    """Indexes of the four runners-up for `top`: same genus, same family, then the rest."""
    sp = SPECIES[top]
    order = sorted(
        (i for i in range(len(SPECIES)) if i != top),
        key=lambda i: (SPECIES[i].genus != sp.genus, SPECIES[i].family != sp.family,
                       (i - top) % len(SPECIES)),
    )  # fmt: skip
    return order[:4]


def _probabilities(top: float) -> list[float]:
    rest = 1.0 - top
    # capped so they stay descending even when a low not-a-plant top leaves a large remainder
    tail = [min(rest * share, top * 0.8 ** (k + 1)) for k, share in enumerate(_TAIL)]
    return [round(top, 4)] + [round(p, 4) for p in tail]


def plantid_picks(digest: bytes, is_plant: bool) -> list[tuple[int, float]]:
    """Five (species index, probability) pairs, probabilities descending."""
    top = int.from_bytes(digest[:4], "big") % len(SPECIES)
    p0 = 0.55 + (digest[4] % 45) / 100 if is_plant else 0.10 + (digest[4] % 20) / 100
    return list(zip([top, *_related(top)], _probabilities(p0), strict=True))


def plantnet_picks(digest: bytes, is_plant: bool) -> list[tuple[int, float]]:
    """Pl@ntNet's ranking: usually Plant.id's top species, sometimes a close relative."""
    picks = [index for index, _ in plantid_picks(digest, is_plant)]
    if digest[6] % 5 == 0:
        top = picks[0]
        sibling = next((i for i in picks[1:] if SPECIES[i].genus == SPECIES[top].genus), None)
        best = sibling if sibling is not None else picks[1]
        picks = [best] + [i for i in picks if i != best]
    s0 = 0.35 + (digest[7] % 60) / 100 if is_plant else 0.02 + (digest[7] % 8) / 100
    return list(zip(picks, _probabilities(s0), strict=True))


def is_plant_like(mean_rgb: tuple[float, float, float]) -> bool:
    """The sandbox's whole "is it a plant" model: green must not trail red or blue by 3+."""
    red, green, blue = mean_rgb
    return max(red, blue) - green < 3


def similar_images(species: Species, base_url: str) -> list[dict]:
    out = []
    for n, similarity in enumerate((0.712, 0.534)):
        image_id = hashlib.sha1(f"{species.name}/{n}".encode()).hexdigest()
        out.append({
            "id": image_id,
            "url": f"{base_url}/media/similar/{image_id}.jpg",
            "url_small": f"{base_url}/media/similar/{image_id}.small.jpg",
            "similarity": similarity,
            "license_name": "CC BY-SA 4.0",
            "license_url": "https://creativecommons.org/licenses/by-sa/4.0/",
            "citation": "plantid sandbox",
        })  # fmt: skip
    return out


def _plain(name: str) -> dict:
    return {"scientificNameWithoutAuthor": name, "scientificNameAuthorship": "",
            "scientificName": name}  # fmt: skip


def plantnet_result(
    index: int | Species,
    score: float,
    *,
    language: str,
    related: bool,
    base: str,
    iucn: str | None = None,
) -> dict:
    """One entry of `results`: a SPECIES index (IUCN `LC` for every third one) or a Species
    of PLANTNET_TAIL with its own IUCN category (`iucn`)."""
    sp = SPECIES[index] if isinstance(index, int) else index
    result = {
        "score": score,
        "species": {
            "scientificNameWithoutAuthor": sp.name,
            "scientificNameAuthorship": sp.authorship,
            "genus": _plain(sp.genus),
            "family": _plain(sp.family),
            "commonNames": list(sp.common_names.get(language, [])),
            "scientificName": f"{sp.name} {sp.authorship}".strip(),
        },
        "gbif": {"id": str(sp.gbif_id)},
        "powo": {"id": sp.powo_id},
    }
    if isinstance(index, int) and index % 3 == 0:
        iucn = "LC"
    if iucn is not None:
        result["iucn"] = {"id": str(100000000 + sp.gbif_id), "category": iucn}
    if related:
        result["images"] = [{
            "organ": organ, "author": "plantid sandbox", "license": "cc-by-sa",
            "date": {"timestamp": 1700000000000 + n * 86400000, "string": "November 14, 2023"},
            "url": {size: f"{base}/media/plantnet/{sp.entity_id}.{n}.{size}.jpg" for size in "oms"},
            "citation": "plantid sandbox / Pl@ntNet, cc-by-sa",
        } for n, organ in enumerate(("leaf", "flower"))]  # fmt: skip
    return result


# ----- Pl@ntNet beyond its first five results, and its floras -----------------------------------
# fmt: off
#: Results 6.. of a Pl@ntNet answer asked for more than five (`nb-results`): names that are not
#: plain binomials, as floras hold them (a hybrid, a genus, a variety, a cultivar, ...), then the
#: rest of the table. Each is (Species, IUCN category or None).
PLANTNET_TAIL: tuple[tuple[Species, str | None], ...] = (
    (Species("Mentha × piperita", "L.", "Lamiaceae", "Lamiales", _M, 2926958, 53471, "450969-1",
             {"en": ["Peppermint"], "de": ["Pfefferminze"], "fr": ["Menthe poivrée"]}), None),
    (Species("Quercus", "L.", "Fagaceae", "Fagales", _M, 2877951, 47851, "325819-2",
             {"en": ["Oaks"], "de": ["Eichen"]}), None),
    (Species("Aloe vera var. chinensis", "(Haw.) A.Berger", "Asphodelaceae", "Asparagales", _L,
             7323372, 1104440, "532444-1", {"en": ["Chinese aloe"]}), "DD"),
    (Species("Acer palmatum 'Atropurpureum'", "", "Sapindaceae", "Sapindales", _M, 3189863,
             54862, "781874-1", {"en": ["Red Japanese maple"]}), None),
    (Species("Taraxacum officinale subsp. vulgare", "(Lam.) Schinz & R.Keller", "Asteraceae",
             "Asterales", _M, 7945632, 1266811, "249258-1", {}), None),
    (Species("×Cupressocyparis leylandii", "(A.B.Jacks. & Dallim.) Dallim.", "Cupressaceae",
             "Pinales", "Pinopsida", 2684446, 79725, "262424-1", {"en": ["Leyland cypress"]}),
     None),
    (Species("Hedera helix f. poetarum", "(Nyman) McAll. & A.Rutherf.", "Araliaceae", "Apiales",
             _M, 8228553, 1392022, "94024-1", {}), "VU"),
)

#: The floras `GET /v2/projects` lists: (id, title, description, species count, bounding box
#: (south, west, north, east) or None for the whole world). Ids as the service names them.
_Box = tuple[float, float, float, float] | None
PLANTNET_PROJECTS: tuple[tuple[str, str, str, int, _Box], ...] = (
    ("k-world-flora", "World flora", "Vascular plants of the whole world", 48218, None),
    ("useful", "Useful plants", "Cultivated and useful plants of the world", 7856, None),
    ("k-western-europe", "Western Europe", "Flora of Western Europe", 8614,
     (36.0, -10.5, 60.0, 16.0)),
    ("k-middle-europe", "Middle Europe", "Flora of Middle Europe", 6312, (45.0, 5.0, 55.0, 24.0)),
    ("k-southwestern-europe", "Southwestern Europe", "Flora of the Iberian Peninsula",
     7409, (35.5, -10.0, 44.0, 4.5)),
    ("k-northern-america", "Northern America", "Flora of Canada and the United States", 12087,
     (24.0, -168.0, 72.0, -52.0)),
    ("k-eastern-australia", "Eastern Australia", "Flora of Queensland and New South Wales",
     6911, (-38.0, 140.0, -10.0, 154.0)),
)
# fmt: on


def plantnet_tail(count: int, last_score: float) -> list[tuple[Species, float, str | None]]:
    """`count` results after the first five, scores still descending (halving)."""
    return [
        (species, round(last_score * 0.5 ** (k + 1), 5), iucn)
        for k, (species, iucn) in enumerate(PLANTNET_TAIL[:count])
    ]


def plantnet_projects(lat: float | None, lon: float | None) -> list[dict]:
    """`GET /v2/projects`: every flora, or with lat/lon those covering that place (the world's
    floras always do), in the documented shape {id, title, description, species}."""
    out = []
    for project_id, title, description, species, box in PLANTNET_PROJECTS:
        if lat is not None and lon is not None and box is not None:
            south, west, north, east = box
            if not (south <= lat <= north and west <= lon <= east):
                continue
        out.append({"id": project_id, "title": title, "description": description,
                    "species": species})  # fmt: skip
    return out
