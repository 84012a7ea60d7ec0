"""Step 6, outputs: what a run leaves behind.

`writers` (ndjson, json, csv, table to a stream), `readback` (reading a results file again),
`xmp` (sidecars), `sidecars` (writing them as answers arrive), `report/` (one offline HTML
page). May import: the top-level modules, inputs and images (a photo is hashed again
before a sidecar or a thumbnail); never guards, run or cli.
"""
