"""The WAL checkpointer: another connection copies the log back while the writers go on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper

from cluster import sqlite_wal
from tests.conftest import wait_until


def test_the_checkpointer_copies_what_writers_leave_in_the_log(tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # only the checkpointer copies
    writer.execute("CREATE TABLE t (v TEXT)")
    checkpointer = sqlite_wal.Checkpointer(str(path))
    checkpointer.start()
    try:
        writer.execute("BEGIN")
        writer.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(4000)])
        writer.execute("COMMIT")
        wait_until(lambda: checkpointer.frames_checkpointed >= 1000, timeout=10, what="the log copied back")
        # Everything in the log is in the database file now: a passive checkpoint finds nothing to copy.
        _busy, log, done = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert log == done and log >= 1000
        assert writer.execute("SELECT count(*) FROM t").fetchone()[0] == 4000
    finally:
        checkpointer.stop()
        writer.close()


@pytest.mark.django_db
def test_a_django_connection_to_a_wal_file_hands_its_checkpoints_over(tmp_path: Path) -> None:
    settings = dict(connections["default"].settings_dict)
    if settings["ENGINE"] != "django.db.backends.sqlite3":
        settings = {**settings, "ENGINE": "django.db.backends.sqlite3", "HOST": "", "PORT": "", "USER": ""}
    path = tmp_path / "django.sqlite3"
    settings["NAME"] = str(path)
    settings["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;"}
    wrapper = DatabaseWrapper(settings, alias="wal-check")
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            assert cursor.fetchone()[0] == sqlite_wal.BACKSTOP_PAGES
        assert str(path.resolve()) in sqlite_wal._running
    finally:
        wrapper.close()
        running = sqlite_wal._running.pop(str(path.resolve()), None)
        if running is not None:
            running.stop()


def test_only_database_files_get_a_checkpointer() -> None:
    assert sqlite_wal.is_file_database("/var/lib/kubeglass/db.sqlite3")
    assert not sqlite_wal.is_file_database(":memory:")
    assert not sqlite_wal.is_file_database("file:memorydb_default?mode=memory&cache=shared")
    assert not sqlite_wal.is_file_database("")
