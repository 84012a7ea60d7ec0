"""One redaction filter for every way a secret could leave the process.

Why: a previous project of this kind printed the Pl@ntNet URL — key included — in its breaker
log. Every key the run knows is registered here once; log records, exception text, URLs and
upstream error bodies all pass through `redact()` before anyone sees them.
"""

from __future__ import annotations

import logging
import re
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_URL_KEY = re.compile(
    r"(?i)([?&](?:api-key|api_key|apikey|key|token|password|passwd|pass)=)[^&#\s\"']+"
)
# The scheme is bounded (RFC 3986 schemes are short; 32 is generous): unbounded, every start
# in a long run of letters scanned to its end for "://", quadratic - 20,000 letters took 3.6 s
# and a 50 MB line (a path list on stdin) held the GIL, SIGTERM unanswered, for good.
_URL_PASSWORD = re.compile(r"(?i)([a-z][a-z0-9+.-]{0,31}://[^:/?#@\s\"']*:)[^@/?#\s\"']+(?=@)")
MASK = "****"
#: C0 control characters and DEL as `\xNN`: how a name's newline or ESC is shown, in a
#: record's `path` (records.display_path) and in every message (`one_line`).
CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F]}
#: And for a terminal: the C1 controls (0x9b is CSI on some terminals) and the bidirectional
#: overrides (a name shown backwards), as `\xNN` / `\uXXXX`. What the service sends (a
#: species name with ESC [2J, an OSC 8 link) reached the table raw (red team, session 19).
TERMINAL_ESCAPES = {
    **CONTROL_ESCAPES,
    **{c: f"\\x{c:02x}" for c in range(0x80, 0xA0)},
    **{c: f"\\u{c:04x}" for c in [0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]},
}


#: What XML 1.0 cannot hold (C0 controls but tab and line ends, U+FFFE, U+FFFF, lone
#: surrogates) and DEL: ElementTree writes them as they are (eml.xml was then not XML, and the
#: archive unreadable), and exempi ends a value at a NUL (an XMP field cut short). Both XML
#: writers put a space in their place (`xml_text`).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str) -> str:
    """`text` with a space for every character an XML document must not carry."""
    return _NOT_XML.sub(" ", text)


def one_line(text: str) -> str:
    """`text` as the one line a message must be: the control characters a name brought in
    (a path with a newline or ESC in `-o`, PLANTID_CONFIG, a results file) escaped as
    records.display_path escapes them, so no name can split an error or forge a `plantid:`
    line. Here, beside redact(), because every message passes both on its way out."""
    return text.translate(CONTROL_ESCAPES)


def register_secret(secret: str | None) -> None:
    """Remember a secret so that every later `redact()` call masks it."""
    global _pattern
    if not secret or len(secret) < 4:
        return
    # Libraries quote a value with repr() (h11: "Illegal header value b'...'"): a quote or a
    # backslash in the key is escaped there, so mask the escaped spellings too.
    spellings = {secret, repr(secret)[1:-1], repr(secret.encode("utf-8", "replace"))[2:-1]}
    with _lock:
        if spellings <= _secrets:
            return
        _secrets.update(spellings)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: object) -> str:
    """Mask registered secrets, any key-like URL query parameter and URL passwords."""
    value = str(text)
    pattern = _pattern
    if pattern is not None:
        value = pattern.sub(MASK, value)
    if "://" in value:  # a find, not a regex pass over every character of a long text
        value = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK, value)  # redis://:pw@host
    return _URL_KEY.sub(lambda m: m.group(1) + MASK, value)


class RedactingFilter(logging.Filter):
    """Applied to every handler the tool installs: the formatted message is redacted in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
