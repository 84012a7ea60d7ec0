"""Beside the run: Prometheus metrics (file, Pushgateway) and the guard state as one dict for
`plantid status`. May import: the top-level modules, guards; prometheus-client lazily.
"""
