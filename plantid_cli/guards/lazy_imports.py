"""Import pybreaker and portalocker without the Redis client they would drag in.

Why: both libraries probe for redis-py at import (pybreaker for its Redis storage, portalocker
for its RedisLock) and, when it is installed, import it (benchmarks item 8: 134 ms for the two
as they are, 59 ms through this module), start-up spent on features this tool never uses (its
Redis backend is its own, guards/redis/). While importing them, `redis` is hidden from
the import system; if redis is already loaded (a run on the Redis backend), nothing is hidden.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

_lock = threading.Lock()


def import_without_redis(name: str) -> ModuleType:
    with _lock:
        if name in sys.modules or "redis" in sys.modules:
            return importlib.import_module(name)
        sys.modules["redis"] = None  # type: ignore[assignment]  # makes `import redis` fail
        try:
            return importlib.import_module(name)
        finally:
            del sys.modules["redis"]


def pybreaker() -> ModuleType:
    return import_without_redis("pybreaker")


def portalocker() -> ModuleType:
    return import_without_redis("portalocker")
