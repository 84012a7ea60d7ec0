"""Beside the run: Prometheus metrics (file, Pushgateway) and the guard state as one dict for
`plantid status`. May import: errors, config, events, guards; prometheus-client lazily.
"""
