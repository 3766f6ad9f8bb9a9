"""SQLite's WAL checkpoints on a thread of their own, so the writers never stop for them.

In WAL mode a commit appends pages to the ``-wal`` file and a checkpoint copies them back into
the database file. By default the connection whose commit takes the log past 1,000 pages runs
that checkpoint itself, on the writer's thread: the control loops' group commits paid for it
on the one core they run on. A passive checkpoint from another connection copies the same pages
beside the writers without blocking them, and Python's ``sqlite3`` lets go of the GIL while
SQLite works, so here it runs on another core.

Writers keep SQLite's own inline checkpoint as a backstop, at ``BACKSTOP_PAGES``, should this
thread fall behind or not run (an in-memory database has no log and needs neither).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from typing import Any

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.05
"""How often the checkpointer looks; a look with nothing to copy costs a read of the WAL index."""
BACKSTOP_PAGES = 10_000
"""``wal_autocheckpoint`` for the writers' connections (SQLite's default is 1,000)."""


class Checkpointer:
    """One thread per database file, with a connection of its own."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.frames_checkpointed = 0
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sqlite-wal:{os.path.basename(path)}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _open(self) -> tuple[sqlite3.Connection, int]:
        conn = sqlite3.connect(self.path, timeout=1.0, isolation_level=None, check_same_thread=False)
        return conn, os.stat(self.path).st_ino

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        inode = last_log = last_done = 0
        while not self._stop.wait(INTERVAL_SECONDS):
            try:
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                continue
            try:
                if conn is None or current != inode:
                    # A database made again at the same path (a test run, a reset) is a new file.
                    if conn is not None:
                        conn.close()
                    conn, inode = self._open()
                _busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:
                logger.debug("WAL checkpoint of %s skipped: %s", self.path, exc)
                continue
            # ``done`` counts from the start of the log, which starts again once fully copied.
            before = last_done if log >= last_log else 0
            if done > before:
                self.checkpoints += 1
                self.frames_checkpointed += done - before
            last_log, last_done = log, done
        if conn is not None:
            conn.close()


_running: dict[str, Checkpointer] = {}
_lock = threading.Lock()


def checkpointer_for(path: str) -> Checkpointer:
    """The running checkpointer of a database file, started on first use."""
    path = os.path.realpath(path)
    with _lock:
        found = _running.get(path)
        if found is None:
            found = _running[path] = Checkpointer(path)
            found.start()
        return found


def is_file_database(name: Any) -> bool:
    text = str(name or "")
    return bool(text) and text != ":memory:" and "mode=memory" not in text and not text.startswith("file:")


def on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Django's ``connection_created``: hand a WAL database's checkpoints to the checkpointer."""
    if connection.vendor != "sqlite" or not is_file_database(connection.settings_dict.get("NAME")):
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() != "wal":
            return
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    checkpointer_for(str(connection.settings_dict["NAME"]))
