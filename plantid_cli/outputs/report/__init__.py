"""The offline HTML report: `page` builds it from records, `thumbs` makes its thumbnails, `assets`
holds its head, CSS and JS.

May import what outputs/ may (the top-level modules, inputs, images for thumbnails).
"""
