"""A small process supervisor for `kanazawa-dao up`: the indexer, the worker and the API as one group.

Each child runs in its own session (so a Ctrl-C in the terminal reaches only the supervisor, which then stops the
children in order), writes to its own log file, and is restarted with a capped exponential backoff when it exits
on its own. A child that stayed up for a minute starts again from the shortest delay.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Log = Callable[[str], None]

BACKOFF_S = (1, 2, 4, 8, 15, 30)
STABLE_AFTER_S = 60
STOP_TIMEOUT_S = 15


def tail(path: Path, lines: int = 8) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str]
    cwd: Path
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    crashes_in_a_row: int = 0
    restart_at: float | None = None
    history: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            out.write(f"\n--- {self.name} started {stamp}: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.started_at = time.monotonic()
        self.restart_at = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.running():
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass


class ProcessGroup:
    """Start children, restart the ones that die, stop them all. `watch()` runs in a background thread."""

    def __init__(self, children: list[Child], *, log: Log) -> None:
        self.children = children
        self.log = log
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        for child in self.children:
            child.start()
            self.log(f"started {child.name} (pid {child.pid}, log {child.log_path})")
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            with self._lock:
                if not self._stopping.is_set():
                    self.check()

    def check(self) -> None:
        """Report children that exited and restart them when their backoff has passed."""
        now = time.monotonic()
        for child in self.children:
            if child.proc is None:
                continue
            code = child.proc.poll()
            if code is None:
                if now - child.started_at > STABLE_AFTER_S:
                    child.crashes_in_a_row = 0
                continue
            if child.restart_at is None:
                delay = BACKOFF_S[min(child.crashes_in_a_row, len(BACKOFF_S) - 1)]
                child.crashes_in_a_row += 1
                child.restart_at = now + delay
                how = f"signal {-code}" if code < 0 else f"exit code {code}"
                last = tail(child.log_path, 6)
                self.log(f"{child.name} (pid {child.pid}) stopped unexpectedly ({how}); restarting in {delay} s. "
                         f"Last lines of {child.log_path}:\n" + "\n".join("    " + line for line in last.splitlines()))
                child.history.append(how)
            elif now >= child.restart_at:
                child.restarts += 1
                child.start()
                self.log(f"restarted {child.name} (pid {child.pid}; restart {child.restarts})")

    def stop(self) -> None:
        """SIGTERM to every child (the API first, the indexer last), SIGKILL to any still there after the timeout."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for child in reversed(self.children):
                child.signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            for child in reversed(self.children):
                if child.proc is None:
                    continue
                try:
                    child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                    self.log(f"stopped {child.name}")
                except subprocess.TimeoutExpired:
                    child.signal(signal.SIGKILL)
                    child.proc.wait(timeout=5)
                    self.log(f"killed {child.name} (it did not stop within {STOP_TIMEOUT_S} s)")
