"""Guards shared by every plantid process: cache, single flight, breaker, rate limit, credits.

Kept empty on purpose: import the submodule you need (``plantid_cli.guards.state``, ``.cache``,
``.breaker``, ``.ratelimit``, ``.credits``, ``.lock``). pybreaker and portalocker are imported
lazily inside ``SharedBreaker.call`` and ``single_flight``.
"""
