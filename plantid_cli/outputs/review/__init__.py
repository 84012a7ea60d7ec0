"""A botanist's review of machine identifications: `verify` says what a record's
identification is once a person has looked at it (every output asks it), `decisions` reads the
report's decisions file and applies it (`plantid review apply`).

May import what outputs/ may (the top-level modules, inputs, images).
"""
