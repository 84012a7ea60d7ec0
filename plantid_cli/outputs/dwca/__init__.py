"""Darwin Core Archive export (`plantid export dwca`): `archive` writes the zip, `eml` the
dataset's metadata. What GBIF's IPT and collection databases ingest.

May import what outputs/ may (the top-level modules, inputs, images).
"""
