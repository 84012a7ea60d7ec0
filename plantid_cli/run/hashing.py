"""A unit's sha256 at the cost of a stat when the hash index knows the file (issue 17).

`Hasher` puts the index (inputs/hash_index.py) in front of images.hash_file: `known` answers a
whole batch of paths with one stat each and one index query; `unit` hashes what the index does
not know and remembers it only when the hash provably belongs to the file as it is
(`identity_if_settled`). `--rehash` (`rehash=True`) never reads the index but still writes it,
so the next run is back at the cost of a stat. Here in run/ because it joins inputs (the index)
and images (the hashing); neither may import the other's side.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from plantid_cli.images.files import hash_file
from plantid_cli.inputs.hash_index import HashIndex, Identity, identity, identity_if_settled
from plantid_cli.inputs.specimens import Specimen, specimen_sha256
from plantid_cli.inputs.walk import ImageJob


class Hasher:
    def __init__(self, index: HashIndex | None, *, rehash: bool = False) -> None:
        self.index = index if index is not None and index.usable else None
        self.rehash = rehash

    def known(self, paths: Sequence[Path | str]) -> list[str | None]:
        """The sha256 the index holds for each path's current file (None: hash it)."""
        if self.index is None or self.rehash or not paths:
            return [None] * len(paths)
        return self.index.get_many([_identity_of(path) for path in paths])

    def file(self, path: Path | str, known: str | None = None) -> str:
        if known is not None:
            return known
        if self.index is not None and not self.rehash:
            known = self.index.get(_identity_of(path))
            if known is not None:
                return known
        sha256, before, after, read_at = hash_file(path)
        if self.index is not None:
            ident = identity_if_settled(before, after, read_at)
            if ident is not None:
                self.index.put(ident, sha256)
        return sha256

    def unit(self, unit: ImageJob | Specimen, known: str | None = None) -> str:
        """A file's sha256, or the specimen identity over its photos' sha256s."""
        if isinstance(unit, Specimen):
            paths = [member.path for member in unit.members]
            hashes = self.known(paths)
            return specimen_sha256(self.file(p, h) for p, h in zip(paths, hashes, strict=True))
        return self.file(unit.path, known)

    def close(self) -> None:
        if self.index is not None:
            self.index.close()


def _identity_of(path: Path | str) -> Identity | None:
    try:
        return identity(os.stat(path))  # follows symlinks: the file that is read
    except (OSError, ValueError):
        return None  # missing, unreadable, NUL in the name: hashing reports it


__all__ = ["Hasher"]
