"""A minimal EML 2.1.1 document (eml.xml) for the archive: title, creator, licence, date.

Why minimal: GBIF asks for a title, a creator, a contact and a licence; everything else a
collection adds in its IPT. Built with ElementTree so that every value is escaped.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from plantid_cli.redact import xml_text

EML_NS = "eml://ecoinformatics.org/eml-2.1.1"
#: Licences GBIF accepts (constants.DATASET_LICENSES) -> the URL written into the EML.
LICENSES = {
    "CC0-1.0": "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
    "CC-BY-4.0": "http://creativecommons.org/licenses/by/4.0/legalcode",
    "CC-BY-NC-4.0": "http://creativecommons.org/licenses/by-nc/4.0/legalcode",
}


@dataclass(frozen=True, slots=True)
class Dataset:
    title: str
    creator: str
    license: str  # one of DATASET_LICENSES
    description: str = ""
    pub_date: str = ""  # YYYY-MM-DD


def _xml_text(value: str | None) -> str | None:
    """A value eml.xml can hold (redact.xml_text: a control character in the default title,
    the results file's name, made the archive unreadable: red team, session 19)."""
    return None if value is None else xml_text(value)


def eml_xml(dataset: Dataset) -> bytes:
    ET.register_namespace("eml", EML_NS)
    root = ET.Element(
        f"{{{EML_NS}}}eml",
        {
            "packageId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"plantid:{dataset.title}")),
            "system": "http://gbif.org",
            "scope": "system",
            "xml:lang": "en",
        },
    )
    node = ET.SubElement(root, "dataset")
    ET.SubElement(node, "title", {"xml:lang": "en"}).text = _xml_text(dataset.title)
    for role in ("creator", "metadataProvider", "contact"):
        party = ET.SubElement(node, role)
        ET.SubElement(party, "organizationName").text = _xml_text(dataset.creator)
    ET.SubElement(node, "pubDate").text = dataset.pub_date
    ET.SubElement(node, "language").text = "en"
    abstract = ET.SubElement(node, "abstract")
    ET.SubElement(abstract, "para").text = _xml_text(dataset.description) or (
        "Plant identifications made with plantid (Plant.id / Pl@ntNet) and reviewed by people "
        "where identificationVerificationStatus says verified."
    )
    rights = ET.SubElement(node, "intellectualRights")
    para = ET.SubElement(rights, "para")
    para.text = "This work is licensed under "
    link = ET.SubElement(para, "ulink", {"url": LICENSES[dataset.license]})
    ET.SubElement(link, "citetitle").text = dataset.license
    link.tail = "."
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data
