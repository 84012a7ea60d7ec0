"""Which shell `--install-completion` and `--show-completion` are for, when the nearest shell
among this process's parents does not say.

Why: Typer asks shellingham, which walks the process's parents for a shell. Run where none is
(a provisioning script whose `bash -c` execs the command, `ssh host plantid
--install-completion`, cron, an IDE's task runner) or from a shell Typer cannot complete for
(`/bin/sh` scripts: dash), Typer said "Shell None is not supported." (or "Shell sh ...") on
stdout and exited 1, installing nothing; `--show-completion` printed nothing useful. What
shellingham's documentation advises then is the user's login shell, `$SHELL`: taken here when
it names a shell Typer completes for; when neither does, one clear line and exit 2 (usage).

The choice reaches Typer through `shellingham.detect_shell`, the public function Typer calls
(patched in the command's own process only, and only for these two options);
tests/test_shell_conventions.py fails the moment it stops taking effect.
May import: typer, shellingham (both lazily), the top-level modules.
"""

from __future__ import annotations

import os


def settle_the_shell(options: list[str]) -> str | None:
    """Make Typer's shell detection fall back to `$SHELL`; the error to print (then exit 2)
    when no shell it completes for can be found, else None. `options`: the completion options
    given (for the example in the error)."""
    try:
        import shellingham  # type: ignore[import-untyped]  # (no type information)
    except ImportError:  # Typer then takes the shell as the option's value: nothing to settle
        return None
    from typer.completion import Shells  # type: ignore[attr-defined]  # Typer's own list

    supported = [shell.value for shell in Shells]
    try:
        nearest: str | None = shellingham.detect_shell()[0]
    except Exception:  # ShellDetectionFailure, or an unreadable /proc: nothing detected
        nearest = None
    if nearest in supported:
        return None
    login = os.environ.get("SHELL", "").strip()  # a line end or a space from a profile
    name = os.path.basename(login).lower()
    if name.endswith(".exe"):
        name = name[: -len(".exe")]
    if name not in supported:
        found = f"the nearest is {nearest}" if nearest else "there is none"
        shown = login if login.isprintable() else ascii(login)  # no escapes to the terminal
        said = f"$SHELL is {shown}" if login else "$SHELL is not set"
        return (
            "plantid: cannot tell which shell to set completion up for: among this process's "
            f"parents {found}, and {said}. Run it from your shell, or say which: "
            f"SHELL=/bin/bash plantid {' '.join(options)} "
            f"(plantid completes for {', '.join(supported)})"
        )
    shellingham.detect_shell = lambda *args, **kwargs: (name, login)
    return None
