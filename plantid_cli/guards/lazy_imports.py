"""Import pybreaker and portalocker without the Redis client they would drag in.

Why: both libraries probe for redis-py at import (pybreaker for its Redis storage, portalocker
for its RedisLock) and, when it is installed, import it (benchmarks item 8: 134 ms for the two
as they are, 59 ms through this module), start-up spent on features this tool never uses (its
Redis backend is its own, guards/redis/). While importing them, `redis` is hidden from
the import system, and so is portalocker's own Redis module, whose other imports (uuid among
them) came before the failing one; if redis is already loaded (a run on the Redis backend),
nothing is hidden.

portalocker 3-4 also asks `importlib.metadata` for its own version at import (its
`__about__`): the metadata machinery and a scan of every sys.path entry, 17-28 ms in front of
the first call of every fresh run (issue 17). `_seed_portalocker_about` puts an `__about__` in
its place with the same fields, the version read from the name of the `*.dist-info` folder
beside the package (one listdir). This leans on a private module of portalocker, so
pyproject pins the tested range (<5), the seed steps aside when it cannot find that folder,
an import that fails with it is retried without it, and tests/test_startup.py fails the moment
the seed stops taking effect or stops giving the real version.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from types import ModuleType

_lock = threading.Lock()


def import_without_redis(name: str, *also: str) -> ModuleType:
    """`name` imported with `redis` (and the modules `also` names) hidden: each `import` of
    them fails as if they were not installed, and nothing of them is left in sys.modules."""
    with _lock:
        if name in sys.modules or "redis" in sys.modules:
            return importlib.import_module(name)
        hidden = [m for m in ("redis", *also) if m not in sys.modules]
        for module in hidden:
            sys.modules[module] = None  # type: ignore[assignment]  # makes `import` fail
        try:
            return importlib.import_module(name)
        finally:
            for module in hidden:
                del sys.modules[module]


def pybreaker() -> ModuleType:
    return import_without_redis("pybreaker")


def portalocker() -> ModuleType:
    with _lock:
        if "portalocker" in sys.modules:
            return sys.modules["portalocker"]
        seeded = _seed_portalocker_about()
    try:
        return import_without_redis("portalocker", _PORTALOCKER_REDIS)
    except Exception:
        if not seeded:
            raise
        for name in [m for m in sys.modules if m == "portalocker" or m.startswith("portalocker.")]:
            del sys.modules[name]  # a portalocker the seed does not fit: import it as it is
        return import_without_redis("portalocker", _PORTALOCKER_REDIS)


#: portalocker's RedisLock module: its own imports (uuid, random, ...: 5 ms) come before the
#: `import redis` that fails, so it is hidden whole; portalocker then offers its documented
#: stand-in, a RedisLock that raises ImportError when used (this tool never uses it).
_PORTALOCKER_REDIS = "portalocker.redis"


#: The fields portalocker's `__init__` reads from `__about__` (4.4), the version aside.
_ABOUT = {
    "__package_name__": "portalocker",
    "__author__": "Rick van Hattem",
    "__email__": "wolph@wol.ph",
    "__description__": "Wraps the portalocker recipe for easy usage",
    "__url__": "https://github.com/WoLpH/portalocker",
}


def _seed_portalocker_about() -> bool:
    """Put a ready `portalocker.__about__` in sys.modules (see the module doc); False when
    the installed version cannot be read from its dist-info folder's name."""
    try:
        spec = importlib.util.find_spec("portalocker")
        if spec is None or spec.origin is None:
            return False
        site = os.path.dirname(os.path.dirname(spec.origin))
        found = [
            name[len("portalocker-") : -len(".dist-info")]
            for name in os.listdir(site)
            if name.startswith("portalocker-") and name.endswith(".dist-info")
        ]
    except (ImportError, OSError, ValueError):
        return False
    if len(found) != 1:  # none, or two installs side by side: let portalocker ask
        return False
    about = ModuleType("portalocker.__about__")
    about.__dict__.update(_ABOUT, __version__=found[0])
    sys.modules["portalocker.__about__"] = about
    return True
