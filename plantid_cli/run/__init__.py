"""Step 5, run: one batch from options to records.

`options` (the one options object), `batch` (inputs -> engine -> writer, budget, the result),
`engine` (per-unit stages: cache, guards, call, store), `setups` (its HTTP client and the
work done ahead of need), `concurrency` (thread pools and the
bounded window), `combine` (which services to ask and how their answers become one record),
`units` (what a unit needs from images and providers). May import every earlier step
(inputs, images, providers, guards), outputs' writer interface and the top-level modules;
never cli or telemetry (which listens to the run's events).
"""
