"""Editor events and worker-thread reads of a folder's index never interleave."""

from __future__ import annotations

import threading

from kimi_lsp.lsp.config import IndexGate


def test_updates_wait_while_a_worker_reads_and_land_when_it_leaves() -> None:
    gate = IndexGate()
    applied: list[str] = []
    inside, release, left = threading.Event(), threading.Event(), threading.Event()
    seen_inside: list[list[str]] = []

    def worker() -> None:
        with gate.reading():
            inside.set()
            release.wait(10)
            seen_inside.append(list(applied))
        left.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(10)
    gate.apply(lambda: applied.append("overlay a.py"))
    gate.apply(lambda: applied.append("save b.py"))
    assert applied == []  # queued, not applied under the reader's feet
    release.set()
    assert left.wait(10)
    thread.join(10)
    assert seen_inside == [[]]
    assert applied == ["overlay a.py", "save b.py"]  # in order, once the reader left


def test_updates_apply_at_once_when_nobody_reads() -> None:
    gate = IndexGate()
    applied: list[int] = []
    gate.apply(lambda: applied.append(1))
    with gate.reading():
        pass
    gate.apply(lambda: applied.append(2))
    assert applied == [1, 2]
