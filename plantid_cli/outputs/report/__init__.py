"""The offline HTML report: `page` builds it from records, `assets` holds its head, CSS and JS.

May import what outputs/ may (the top-level modules, inputs, images for thumbnails).
"""
