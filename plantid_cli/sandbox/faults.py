"""The sandbox's unusable answers: a real, charged 2xx answer spoiled in one way per fault.

Why a module: each kind is a way real services (or proxies in front of them) have been seen to
break an answer after charging for it, and the client must store each one rather than buy it
again (see `plantid_cli.run.charged`). Pure functions over the reply the sandbox would have sent.

    badjson    the body cut in half (invalid JSON; Plant.id's access_token still leads it)
    badshape   no `result` / `results`
    badtypes   `"binary": "false"` and a name of 5 (Plant.id); a score "0.9" and a name of 5
               (Pl@ntNet)
    badlist    the suggestions (`classification.suggestions` / `results`) as an object
    badnumber  probabilities NaN and 1e999 (JSON that Python reads, numbers that are not)
    hugelist   100,000 suggestions

A health assessment's disease suggestions are spoiled as a classification's are; a
knowledge-base answer (neither) is cut in half whatever the fault. They spoil identification
POSTs; a Plant.id re-read (`GET /identification/{token}`) answers
cleanly unless the setting `fault_reread` is true (then it is spoiled the same way).
"""

from __future__ import annotations

import copy
import json

from plantid_cli.sandbox.plantid_api import Reply, json_reply

ANSWER_FAULTS = frozenset({"badjson", "badshape", "badtypes", "badlist", "badnumber", "hugelist"})
HUGE = 100_000


def spoil(fault: str, reply: Reply) -> Reply:
    """`reply` (a 2xx JSON answer) spoiled as `fault` says; the status stays."""
    payload = reply.payload
    if fault == "badjson":
        return Reply(reply.status, reply.body[: len(reply.body) // 2], reply.ctype, reply.headers)
    if fault == "badshape":
        shape = {k: v for k, v in payload.items() if k not in ("result", "results")}
        return json_reply(reply.status, shape, reply.headers)
    if "result" not in payload and "results" not in payload:  # a knowledge-base answer
        return Reply(reply.status, reply.body[: len(reply.body) // 2], reply.ctype, reply.headers)
    payload = copy.deepcopy(payload)
    plantid = "result" in payload
    # a health assessment has disease suggestions and no classification
    listed = "classification" if "classification" in payload.get("result", {}) else "disease"
    suggestions = payload["result"][listed]["suggestions"] if plantid else payload["results"]
    if fault == "badtypes":
        if plantid:
            payload["result"]["is_plant"]["binary"] = "false"
            suggestions[0]["name"] = 5
        else:
            suggestions[0]["score"] = "0.9"
            suggestions[0]["species"]["scientificNameWithoutAuthor"] = 5
    elif fault == "badlist":
        spoiled = {str(n): item for n, item in enumerate(suggestions)}
        if plantid:
            payload["result"][listed]["suggestions"] = spoiled
        else:
            payload["results"] = spoiled
    elif fault == "badnumber":
        field = "probability" if plantid else "score"
        suggestions[0][field] = "@NAN@"
        if len(suggestions) > 1:
            suggestions[1][field] = "@HUGE@"
        if plantid:
            payload["result"]["is_plant"]["probability"] = "@HUGE@"
        body = json.dumps(payload).replace('"@NAN@"', "NaN").replace('"@HUGE@"', "1e999")
        return Reply(reply.status, body.encode(), reply.ctype, reply.headers)
    elif fault == "hugelist":
        # small entries (one shared dict), so the answer stays under the client's size cap
        if plantid:
            filler = {"name": "Filler plant", "probability": 0.0001}
        else:
            filler = {"score": 0.0001, "species": {"scientificNameWithoutAuthor": "Filler plant"}}
        suggestions.extend([filler] * (HUGE - len(suggestions)))
    return json_reply(reply.status, payload, reply.headers)
