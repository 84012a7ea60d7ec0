"""Maintenance scripts run from a clone (`python -m tools.<name>`); not installed."""
