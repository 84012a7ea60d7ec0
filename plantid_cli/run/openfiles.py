"""The open files a run needs at once, against what the process may open (`ulimit -n`).

Why: every request a run keeps out holds files of its own - its socket, its single-flight
lock file, and the database connections of its two call threads (diskcache keeps one per
thread: the file, its write-ahead log and its index) - about six per `--concurrency` slot,
measured (7.4 at -j 50, 1,250 files at -j 200). Past the limit the operating system refuses
the next open: at `-j 400` under the usual soft limit of 1,024, 140 of 400 good photos were
reported `unreadable`, and the answers that did come in were paid for and not stored (the
result cache could not open its file), so the next run would have bought them again. So a
run first raises its soft limit as far as it needs (never past the hard limit, never lower:
what `ulimit -n` does in a shell), and a run that even the hard limit cannot carry is refused
before anything is sent, with the `-j` that fits.
May import: the top-level modules (errors, constants).
"""

from __future__ import annotations

from plantid_cli.errors import UsageError

#: Open files per request out (a `--concurrency` slot of one service; measured ~6, the rest
#: is margin).
FILES_PER_SLOT = 8
#: The run's own files whatever its concurrency: the databases, the output, the walk, Python.
FILES_BASE = 64
#: The most macOS lets a process set its soft limit to (its kernel's OPEN_MAX).
MACOS_OPEN_MAX = 10240


def ensure_open_files(requests_out: int, concurrency: int) -> None:
    """Raise the soft limit on open files to what `requests_out` requests at once need (the
    run's `concurrency` slots of every service); UsageError when the hard limit is lower
    (nothing is sent)."""
    try:
        import resource  # lazy, and absent on Windows (whose limit is not this one)
    except ImportError:
        return
    need = FILES_BASE + FILES_PER_SLOT * requests_out
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or need <= soft:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    # macOS refuses a soft limit past its kernel's own (OPEN_MAX, 10,240) even under an
    # unlimited hard one: then as far as that goes
    for candidate in dict.fromkeys((target, min(target, MACOS_OPEN_MAX))):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (candidate, hard))
        except (ValueError, OSError):
            continue
        soft = candidate
        break
    if need <= soft:
        return
    services = max(1, requests_out // concurrency)
    fits = max(1, (soft - FILES_BASE) // (FILES_PER_SLOT * services))
    raise UsageError(
        f"--concurrency {concurrency} needs about {need:,} open files at once, and this "
        f"process may open {soft:,} (ulimit -n). Use -j {fits} or less, or raise the limit "
        "(`ulimit -n` in the shell, LimitNOFILE for a service); nothing was sent"
    )
