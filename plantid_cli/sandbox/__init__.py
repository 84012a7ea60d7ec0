"""The local stand-in for Plant.id v3 and Pl@ntNet v2 (tests, demos, rehearsals).

`server` (the threaded HTTP server, counters and call log), `handler` (routing and fault
injection), `plantid_api` and `plantnet_api` (request checks and answer shapes), `data`
(species table). Answers are derived from the image bytes, not real identifications. May
import: nothing of the product but errors and constants (it must stay a faithful outsider).
"""
