"""The process helpers the tests lean on tell a running process from one that has exited."""

from __future__ import annotations

import os
import subprocess
import sys

from kimi_lsp.processes import alive


def test_an_exited_child_not_yet_reaped_is_gone_even_with_a_space_in_its_name():
    # The child renames itself so its /proc stat line reads "pid (kimi zombie) Z ...".
    child = subprocess.Popen([sys.executable, "-c", "open('/proc/self/comm', 'w').write('kimi zombie')"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # wait for the exit, leave the zombie
        with open(f"/proc/{child.pid}/stat") as stat:
            assert "(kimi zombie) Z" in stat.read()

        assert not alive(child.pid)
    finally:
        child.wait()


def test_a_running_process_is_alive():
    assert alive(os.getpid())
