"""Ctrl-C during start-up (imports, option parsing), before `identify` installs its own
handler: a one-line note and exit 130, never a KeyboardInterrupt traceback. Found by the soak
(benchmarks/soak.py), whose SIGINTs sometimes land while a loaded machine is still importing.
"""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

#: Runs the real `main()`; a real SIGINT arrives while it imports the Typer app (start-up).
LAUNCHER = (
    "import signal, sys\n"
    # Ctrl-C's usual disposition, as at a terminal: a suite run from a background job (`&`
    # without job control) inherits SIGINT ignored, and the signal below would be lost
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "class CtrlC:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'plantid_cli.cli.app':\n"
    "            signal.raise_signal(signal.SIGINT)\n"
    "        return None\n"
    "sys.meta_path.insert(0, CtrlC())\n"
    "sys.argv = ['plantid', '-vv', 'identify', '-']\n"
    "from plantid_cli.cli import main\n"
    "main()\n"
)


def test_ctrl_c_during_start_up_is_a_note_not_a_traceback(cli_env):
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER],
        env=cli_env,
        input="",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 130
    assert result.stderr == "plantid: interrupted\n"
    assert result.stdout == ""
