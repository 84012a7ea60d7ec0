"""Step 3, providers: the identification services behind one interface (see base.py).

`base` (request, `Answer`, HTTP error classification, `send`), `http` (every client, one SSL
context per process), `exchange` (one total deadline and the decoded-size cap per exchange),
`validate` (an answer's shape and types), `plantid`, `plantnet`. May import: the top-level
modules, inputs, images; never guards, run or outputs (the guards wrap a provider's call from
above). httpx is imported lazily.
"""
