"""``amlscreen broker`` as an operator runs it: SIGTERM or SIGINT stops the broker child, exit 0.

Before the fix SIGTERM killed the Python process and left the Tansu child running (orphaned,
still holding the port), and SIGINT did nothing when the process had inherited SIGINT as
ignored (a background job of a script, as under this test harness).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.broker


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _children(pid: int) -> list[int]:
    """The direct children of ``pid``, read from /proc (no psutil in the environment)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        # Fields after the parenthesised command name: state, ppid, ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its exit status is left


def _start_broker_command(data_dir: Path) -> tuple[int, subprocess.Popen[str]]:
    """``amlscreen broker`` on a free port, as a subprocess with its output piped."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AMLSCREEN_")}
    env.update({"AMLSCREEN_DATA_DIR": str(data_dir), "AMLSCREEN_EMBEDDED_BROKER_PORT": str(port)})
    process = subprocess.Popen(
        [sys.executable, "-m", "amlscreen.cli", "broker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return port, process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_broker_child_and_exits_0(signum: int, tmp_path: Path) -> None:
    port, process = _start_broker_command(tmp_path)
    broker_children: list[int] = []
    survivors: list[int] = []
    try:
        assert process.stdout is not None
        # The banner is printed once the broker listens and the topics exist.
        banner = process.stdout.readline()
        assert f"127.0.0.1:{port}" in banner, banner
        assert _port_open(port)
        broker_children = _children(process.pid)
        assert broker_children, "the broker runs as a child process of amlscreen broker"

        process.send_signal(signum)
        code = process.wait(timeout=30)
        deadline = time.monotonic() + 5
        while _port_open(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        port_open = _port_open(port)
        survivors = [pid for pid in broker_children if _alive(pid)]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in survivors or broker_children:  # never leave an orphan behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    assert code == 0, process.stderr.read() if process.stderr else code
    assert not survivors, f"the broker child {survivors} outlived amlscreen broker"
    assert not port_open, "the broker's port is still open after amlscreen broker exited"


def test_a_broker_that_dies_is_an_error_not_a_clean_exit(tmp_path: Path) -> None:
    port, process = _start_broker_command(tmp_path)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"127.0.0.1:{port}" in banner, banner
        broker_children = _children(process.pid)
        assert broker_children

        for pid in broker_children:
            os.kill(pid, signal.SIGKILL)  # as the OOM killer would
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert code == 1, (code, stderr)
    assert "exited unexpectedly (killed by signal 9)" in stderr
