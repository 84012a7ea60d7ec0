"""What a SQLite error says about the file: damaged (move it aside, start empty) or not.

One test for every SQLite file plantid keeps (the shared state, the result cache, the rerun
index): the index used to count anything but "locked" as damage, so a full disk or a folder
turned read-only moved a healthy index aside and it was rebuilt, photo by photo, for nothing.

Stdlib only (sqlite3 is looked up, not imported: the walk imports this on every start-up).
May import: nothing of plantid.
"""

from __future__ import annotations

# Primary SQLite result codes that mean "this file is not a usable database".
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


def is_corruption(exc: BaseException | None) -> bool:
    """True for a damaged / non-SQLite file; False for busy/locked, full, read-only and other
    operational errors (and for anything that is not a sqlite3.DatabaseError)."""
    import sys  # lazy: stdlib, cheap

    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is None or not isinstance(exc, sqlite3.DatabaseError):
        return False  # no SQLite error can exist before sqlite3 is imported
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


__all__ = ["is_corruption"]
