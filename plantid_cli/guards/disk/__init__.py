"""The disk backend: every process of one machine shares state under ``cache_dir``.

`state` (one SQLite file: breaker rows, rate-limit log, credits), `cache` (diskcache results,
JSON only), `recovery` (a damaged database moved aside once), `lock` (single flight by
flock), `ratelimit`, `credits`. Stdlib only at import
time, except `cache` (diskcache). `backend.DiskBackend` puts them together (with the
breaker). May import: the top-level modules; `backend` also guards.breaker.
"""
