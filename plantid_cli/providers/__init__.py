"""Identification services behind one interface (see base.py)."""
