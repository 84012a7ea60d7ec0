"""Which specimen a unit is: `specimen` (its folder below the argument) and `catalog_number`.

Why here, in inputs/: a herbarium's catalogue number is the barcode that names the folder or
the file (``LE01234567/sheet-1.tif``), so it is known from the path alone, before any photo is
read, and it is the same whatever service answers. Records carry it (records.build_record),
the CSV writes it as ``catalogNumber`` and derives ``occurrenceID`` from it, the DwC-A keys
its rows by it.

Rules:

* With ``--group-by folder``, `specimen` is the folder relative to the argument it was walked
  from (``LE01234567``, ``box-3/LE01234567``); a folder given itself, photos directly in it,
  is named by its own name. `catalog_number` is the folder's name, or with a pattern what the
  pattern finds in the folder's name, else in its photos' names (first photo first).
* Without grouping, only a pattern gives a photo a `catalog_number`: the file name first, then
  its folders below the argument, nearest first.
* The pattern is a Python regular expression searched anywhere in a name; when it has a group,
  group 1 is the number (``--catalog-number 'barcode-(\\d+)'``). No match: no number (null),
  and ``occurrenceID`` falls back to the photo's sha256.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

from plantid_cli.errors import UsageError
from plantid_cli.inputs.specimens import Specimen
from plantid_cli.inputs.walk import ImageJob


def compile_pattern(pattern: str | None) -> re.Pattern[str] | None:
    """The --catalog-number pattern, or UsageError (exit 2) naming what is wrong with it."""
    if pattern is None:
        return None
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise UsageError(
            f"--catalog-number {pattern!r} is not a regular expression ({exc})"
        ) from None
    if compiled.groups > 1:
        raise UsageError(f"--catalog-number {pattern!r}: use at most one group (the number)")
    return compiled


def find_number(pattern: re.Pattern[str], names: Iterable[str]) -> str | None:
    """What `pattern` captures in the first of `names` it matches (group 1 if it has one)."""
    for name in names:
        found = pattern.search(name)
        if found is not None:
            number = found.group(1) if pattern.groups else found.group(0)
            if number:
                return number
    return None


def specimen_folder(unit: Specimen) -> str:
    """The specimen's folder relative to its argument (the folder's own name at the root)."""
    if unit.members:
        relative = os.path.dirname(unit.members[0].relative)
        if relative:
            return relative
    name = os.path.basename(os.path.normpath(unit.display))
    return "" if name in (".", "") else name


def with_identity(units: Iterable[Any], pattern: re.Pattern[str] | None) -> Iterator[Any]:
    """`units` (ImageJobs or Specimens) with `specimen` and `catalog_number` filled in."""
    for unit in units:
        if isinstance(unit, Specimen):
            folder = specimen_folder(unit)
            name = os.path.basename(folder)
            if pattern is None:
                number: str | None = name or None
            else:
                names = [name] + [os.path.basename(m.relative or m.display) for m in unit.members]
                number = find_number(pattern, names)
            yield dataclasses.replace(unit, specimen=folder, catalog_number=number)
        elif pattern is not None and isinstance(unit, ImageJob):
            parts = (unit.relative or os.path.basename(unit.display)).split("/")
            # "" (not None): looked for and not found; the record then says null
            number = find_number(pattern, reversed(parts)) or ""
            yield dataclasses.replace(unit, catalog_number=number)
        else:
            yield unit
