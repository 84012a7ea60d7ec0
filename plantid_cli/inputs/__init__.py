"""Step 1, inputs: command-line arguments and stdin become a lazy, ordered stream of units.

A unit is one photo (`walk.ImageJob`) or, with ``--group-by folder``, one specimen
(`specimens.Specimen`, 1-5 photos of one plant). Nothing here opens an image or a network
connection. May import: the top-level modules (errors, config, constants, records) only.
"""
