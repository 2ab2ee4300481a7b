"""Stopping a batch cleanly on SIGINT (Ctrl-C) and SIGTERM (what Slurm and Kubernetes send first).

The signal abandons the picture being painted, but never cuts a manifest row in half: the row is
written inside ``critical()``, and a signal that arrives there takes effect as soon as it ends.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

EXIT_SIGINT = 130  # 128 + the signal's number, as shells report a command a signal stopped
EXIT_SIGTERM = 143


class Interrupted(KeyboardInterrupt):
    """A stop asked for by a signal. A KeyboardInterrupt, so that no ``except Exception`` on the way up
    mistakes it for a failed picture, and what saves its work on Ctrl-C (a training checkpoint) does
    so on SIGTERM too."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_state = {"depth": 0, "pending": None, "stopping": False}


def _on_signal(signum, frame) -> None:
    if _state["stopping"]:  # already stopping: let the clean-up finish
        return
    if _state["depth"]:
        _state["pending"] = signum
        return
    _state["stopping"] = True
    raise Interrupted(signum)


@contextmanager
def critical():
    """A stretch a signal must not cut (writing a manifest row); a signal inside it is raised after."""
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        pending, _state["pending"] = _state["pending"], None
        if pending is not None and not _state["depth"] and not _state["stopping"]:
            _state["stopping"] = True
            raise Interrupted(pending)


@contextmanager
def stop_on_signals():
    """SIGINT and SIGTERM raise ``Interrupted`` in the main thread while this is entered (elsewhere,
    off the main thread, signals are left as they are)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    _state.update(depth=0, pending=None, stopping=False)
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        _state.update(depth=0, pending=None, stopping=False)
