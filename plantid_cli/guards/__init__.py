"""Step 4, guards: what stands between a prepared upload and the service, shared by processes.

`provider_guards.ProviderGuards` is the front door (credits cool-down, breaker, rate limit,
retries) for one account; `backend.open_backend` picks where the shared state lives: `disk/`
(SQLite state, diskcache results, flock single flight; one machine) or `redis/` (a fleet).
`breaker/` is the circuit breaker used by both backends. May import: the top-level
modules (errors, config, constants, events, redact); never providers, run, outputs or cli.
"""
