"""Step 6, outputs: what a run leaves behind.

`writers` (ndjson, json, csv, table to a stream), `readback` (reading a results file again),
`xmp` (sidecars), `sidecars` (writing them as answers arrive), `report/` (one offline HTML
page). May import: errors, config, constants, records, redact; never run or cli.
"""
