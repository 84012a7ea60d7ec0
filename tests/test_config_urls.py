"""Service URLs that do not parse are configuration errors when the settings load.

DEFECT (red team, session 14): only the `http://` prefix was checked. `http://[::1/api/v3`
or a space in the host loaded fine; `identify` then wrote a record with the code "error" for
every photo and exited 1, `usage` ended in an internal error. Correct: exit 3 (configuration)
before anything is read or sent, naming the setting; a password in the URL is never printed.
"""

from __future__ import annotations

import pytest
from conftest import run_plantid
from photos import green_photo

BAD = {
    "unclosed IPv6 bracket": ("http://[::1/api/v3", "is not a URL (Invalid IPv6 URL)"),
    "space in the host": ("http://exa mple.com/api/v3", "is not a URL (a space or a control"),
    "newline at the end": ("http://127.0.0.1:1/api/v3\n", "is not a URL (a space or a control"),
    "port out of range": ("http://127.0.0.1:99999/api/v3", "is not a URL (Port out of range"),
    "port not a number": ("http://127.0.0.1:ab/api/v3", "is not a URL (Port could not be cast"),
    "no host": ("http:///api/v3", "names no valid host"),
    "a host with a slash-less junk": ("http://ho<st/api/v3", "names no valid host"),
    "a query": ("http://127.0.0.1:1/api/v3?x=1", "must not carry a query or a fragment"),
    "a fragment": ("http://127.0.0.1:1/api/v3#top", "must not carry a query or a fragment"),
    # red team, session 15: parsed here, refused by the HTTP client at every request
    "IPvFuture in brackets": ("http://[v1.fe]/api/v3", "names no valid host"),
    "a host IDNA refuses": ("http://\u2177.com/api/v3", "names no valid host"),
    "an underscore in an IDN": ("http://\u00e9_x.com/api/v3", "names no valid host"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("variable", ["PLANTID_API_URL", "PLANTNET_API_URL"])
def test_a_url_that_does_not_parse_is_a_configuration_error(
    case, variable, cli_env, sandbox, tmp_path
):
    url, why = BAD[case]
    photo = green_photo(tmp_path / "p.jpg", (200, 150), seed=41)
    env = {**cli_env, variable: url}
    setting = "api_url" if variable == "PLANTID_API_URL" else "plantnet_api_url"
    for argv in (["identify", photo, "-f", "ndjson"], ["usage"]):
        done = run_plantid(argv, env)
        assert done.returncode == 3, (argv, done.stderr)
        assert done.stdout == ""
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr
        assert f"invalid configuration: {setting} {why}" in done.stderr, done.stderr
    assert sandbox.stats()["calls"] == []


def test_a_password_in_a_bad_url_is_not_printed(cli_env, sandbox):
    done = run_plantid(["usage"], {**cli_env, "PLANTID_API_URL": "http://me:s3cr3t@exa mple/v3"})
    assert done.returncode == 3
    assert "s3cr3t" not in done.stderr and "me:" not in done.stderr
    assert "'http://***@exa mple/v3'" in done.stderr


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/api/v3",
        "http://127.0.0.1:{port}/api/v3/",
        "http://localhost:{port}/api/v3",
    ],
)
def test_good_urls_still_load(url, cli_env, sandbox):
    port = sandbox.url.rsplit(":", 1)[1].split("/")[0]
    done = run_plantid(
        ["usage", "-f", "json"], {**cli_env, "PLANTID_API_URL": url.format(port=port)}
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "url",
    [
        "http://b\u00fccher.de/api/v3",
        "http://xn--bcher-kva.de/api/v3",
        "http://[fe80::1%25eth0]:8080/api/v3",
        "HTTP://LOCALHOST:8080/api/v3/",
        "http://me:pw@host.example/api/v3",
    ],
)
def test_urls_the_client_takes_still_load(url, cli_env):
    done = run_plantid(["config", "show", "-f", "json"], {**cli_env, "PLANTID_API_URL": url})
    assert done.returncode == 0, done.stderr
