"""The Redis backend for a fleet of machines (``PLANTID_REDIS_URL``; extra ``plantid-cli[redis]``).

Same interfaces as the disk backend; any Redis failure falls back to the disk backend with one
warning. redis-py is imported here only. May import: guards.disk, guards.breaker, errors,
config, redact.
"""
