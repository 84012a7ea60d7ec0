"""The circuit breaker shared by every process: one row per account, one probe lease at a time.

`shared.SharedBreaker` is what guards use; `row` is the stored state and its transitions;
`storage` adapts it to pybreaker (imported lazily). May import: the top-level modules,
guards.disk.state, guards.lazy_imports.
"""
