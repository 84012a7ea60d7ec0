"""The checklist a survey ends with: one row per taxon over a results file (`plantid checklist`,
and the summary at the top of the report).

Each record counts under its reviewed identification (outputs/review/verify.py): a corrected
name under the correction, a rejected one not at all, an unreviewed one only when the service
answered (status ok). `specimens` counts records (a specimen with --group-by folder, else one
photo), `photos` the photos behind them; probabilities are the service's for that name (a
correction to a name the service never offered has none).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from plantid_cli.outputs.review.verify import identification
from plantid_cli.outputs.writers import media_paths

COLUMNS = (
    "scientific_name",
    "family",
    "specimens",
    "photos",
    "best_probability",
    "mean_probability",
    "verified",
)


@dataclass
class Taxon:
    scientific_name: str
    family: str = ""
    specimens: int = 0
    photos: int = 0
    verified: int = 0
    probabilities: list[float] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        best = max(self.probabilities) if self.probabilities else None
        mean = sum(self.probabilities) / len(self.probabilities) if self.probabilities else None
        return {
            "scientific_name": self.scientific_name,
            "family": self.family,
            "specimens": self.specimens,
            "photos": self.photos,
            "best_probability": None if best is None else round(best, 4),
            "mean_probability": None if mean is None else round(mean, 4),
            "verified": self.verified,
        }


def checklist(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per taxon (COLUMNS), by family then name."""
    taxa: dict[str, Taxon] = {}
    for record in records:
        found = identification(record)
        if found is None or not (found.verified or record.get("status") == "ok"):
            continue
        taxon = taxa.setdefault(found.scientific_name, Taxon(found.scientific_name))
        taxon.family = taxon.family or found.family
        taxon.specimens += 1
        taxon.photos += max(1, len(media_paths(record)))
        taxon.verified += found.verified
        if found.probability is not None:
            taxon.probabilities.append(found.probability)
    ordered = sorted(taxa.values(), key=lambda t: (t.family.lower(), t.scientific_name.lower()))
    return [taxon.row() for taxon in ordered]
