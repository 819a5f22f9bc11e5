"""The embedded emulator's state on disk: one SQLite database (``state.db``) and one file per object body
(``objects/``), under the stack's state folder (``.shoebox/emulator/`` for ``shoebox up``).

It holds what the product needs to find again after a restart (docs/persistence.md): DynamoDB items and
stream records, S3 objects, SQS messages, by resource name. ``deploy/local/moto_persistence.py`` writes
to it from inside moto, in the same call that changes moto's state, and fills each resource back from it
when provisioning creates the resource again. Nothing here knows moto.

Durability: SQLite in WAL mode with ``synchronous=NORMAL``, and body files written with one unbuffered
``write``: a killed process (kill -9 included) loses nothing that was written, since the operating system
keeps written pages. A power loss can lose the last commits (never corrupt the database), and a body file
the database names may then be short: restoring drops such an object and logs it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("shoebox.emulator.store")

DATABASE = "state.db"
#: what the database holds, by table
TABLES = ("items", "stream", "objects", "uploads", "parts", "messages")
BODIES = "objects"

_SCHEMA = (
    # DynamoDB: each item as it is now (its attributes in DynamoDB JSON), keyed by its key's JSON
    "CREATE TABLE IF NOT EXISTS items (tbl TEXT NOT NULL, hk TEXT NOT NULL, rk TEXT NOT NULL, "
    "attrs TEXT NOT NULL, PRIMARY KEY (tbl, hk, rk)) WITHOUT ROWID",
    # the tables' stream records, by their place in the stream (the relay's checkpoint names one by its
    # sequence number, which is in the record: moto's are larger than SQLite's integers)
    "CREATE TABLE IF NOT EXISTS stream (tbl TEXT NOT NULL, pos INTEGER NOT NULL, record TEXT NOT NULL, "
    "PRIMARY KEY (tbl, pos)) WITHOUT ROWID",
    # S3: each object's metadata, and the name of the file in objects/ that holds its body
    "CREATE TABLE IF NOT EXISTS objects (bucket TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, "
    "meta TEXT NOT NULL, PRIMARY KEY (bucket, key)) WITHOUT ROWID",
    # S3 multipart uploads in progress (the API answered 201 with their id) and their parts' body files
    "CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, "
    "meta TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS parts (upload TEXT NOT NULL, number INTEGER NOT NULL, body TEXT NOT NULL, "
    "meta TEXT NOT NULL, PRIMARY KEY (upload, number)) WITHOUT ROWID",
    # SQS: each message, in the order it joined its queue (rowid: a move to the DLQ re-inserts it)
    "CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, queue TEXT NOT NULL, data TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS messages_queue ON messages (queue)",
)


def dumps(value: Any) -> str:
    """JSON with bytes kept as bytes (``{"$b64": ...}``): message attributes may be binary."""

    def default(o: Any) -> Any:
        if isinstance(o, bytes | bytearray):
            return {"$b64": base64.b64encode(bytes(o)).decode("ascii")}
        raise TypeError(f"cannot store a {type(o).__name__}")

    return json.dumps(value, default=default, separators=(",", ":"))


def loads(text: str) -> Any:
    """The inverse of ``dumps``."""

    def hook(o: dict[str, Any]) -> Any:
        if len(o) == 1 and "$b64" in o:
            return base64.b64decode(o["$b64"])
        return o

    return json.loads(text, object_hook=hook)


class Store:
    """The state folder of one emulator. Every method is safe from any of the server's threads; nested
    ``transaction()`` blocks commit once, when the outermost one ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bodies = root / BODIES
        self.bodies.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(root / DATABASE, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit is a write to the log (no fsync); a process crash loses nothing
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        #: body files an object row names: never removed while named
        self._live = {
            row[0] for row in self._db.execute("SELECT body FROM objects UNION SELECT body FROM parts")
        }
        self._collect_orphans()

    def close(self) -> None:
        """Close the database (the emulator never does: each commit is already with the system)."""
        with self.lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit. It commits whatever was written even when the block raises:
        the store mirrors the emulator, which keeps what a failing call changed before it failed."""
        with self.lock:
            if self._depth == 0:
                self._db.execute("BEGIN")
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("COMMIT")

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> None:
        with self.transaction():
            self._db.execute(sql, tuple(params))

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    # ------------------------------------------------------------------------------------- DynamoDB
    def put_item(self, table: str, hash_key: str, range_key: str, attrs: str) -> None:
        """The item of ``table`` under these keys (DynamoDB JSON; ``""``: no range key) is ``attrs``."""
        self._execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?)", (table, hash_key, range_key, attrs))

    def delete_item(self, table: str, hash_key: str, range_key: str) -> None:
        """The item of ``table`` under these keys is gone."""
        self._execute("DELETE FROM items WHERE tbl = ? AND hk = ? AND rk = ?", (table, hash_key, range_key))

    def items(self, table: str) -> list[str]:
        """Every item of ``table`` (DynamoDB JSON)."""
        return [r[0] for r in self._rows("SELECT attrs FROM items WHERE tbl = ?", (table,))]

    def add_stream_record(self, table: str, position: int, record: str) -> None:
        """The stream's ``position``-th record (from 0)."""
        self._execute("INSERT OR REPLACE INTO stream VALUES (?, ?, ?)", (table, position, record))

    def stream_records(self, table: str) -> list[tuple[int, str]]:
        """``(position, record)`` in the stream's order."""
        rows = self._rows("SELECT pos, record FROM stream WHERE tbl = ? ORDER BY pos", (table,))
        return [(int(r[0]), str(r[1])) for r in rows]

    def drop_table(self, table: str) -> None:
        """``table`` was deleted: its items and stream records go."""
        with self.transaction():
            self._db.execute("DELETE FROM items WHERE tbl = ?", (table,))
            self._db.execute("DELETE FROM stream WHERE tbl = ?", (table,))

    # ------------------------------------------------------------------------------------------- S3
    def new_body(self) -> str:
        """A name for a new body file (the file appears on its first write)."""
        return uuid.uuid4().hex

    def body_path(self, body: str) -> Path:
        """The file of the body named ``body``."""
        return self.bodies / body

    def put_object(self, bucket: str, key: str, body: str, meta: str) -> None:
        """Record the object; the body file it replaces (if another) is removed."""
        with self.transaction():
            old = self._rows("SELECT body FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
            self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", (bucket, key, body, meta))
            self._live.add(body)
        if old and old[0][0] != body:
            self._forget_body(str(old[0][0]))

    def delete_object(self, bucket: str, key: str) -> None:
        """The object is gone, and so is its body file."""
        with self.transaction():
            old = self._rows("SELECT body FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
            self._db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        if old:
            self._forget_body(str(old[0][0]))

    def objects(self, bucket: str) -> list[tuple[str, str, str]]:
        """``(key, body, meta)`` of every object of ``bucket``."""
        rows = self._rows("SELECT key, body, meta FROM objects WHERE bucket = ?", (bucket,))
        return [(str(k), str(b), str(m)) for k, b, m in rows]

    def is_live(self, body: str) -> bool:
        """Whether an object or a part names the body file ``body``."""
        with self.lock:
            return body in self._live

    def release(self, body: str) -> None:
        """A body file's object was let go (moto disposed of it): remove the file unless a row names it
        (the row's replacement removes it then)."""
        with self.lock:
            if body in self._live:
                return
        with contextlib.suppress(FileNotFoundError):
            self.body_path(body).unlink()

    def _forget_body(self, body: str) -> None:
        # an open reader keeps its file until it closes it; on Linux unlinking never breaks it
        with self.lock:
            self._live.discard(body)
        with contextlib.suppress(FileNotFoundError):
            self.body_path(body).unlink()

    def _collect_orphans(self) -> None:
        """Body files no row names: parts of unfinished multipart uploads, and writes a kill interrupted."""
        removed = 0
        for path in self.bodies.iterdir():
            if path.name not in self._live:
                path.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.info("removed %d body files no object names", removed)

    def drop_bucket(self, bucket: str) -> None:
        """``bucket`` was deleted: its objects and uploads go, with their files."""
        for _, body, _ in self.objects(bucket):
            self._forget_body(body)
        for upload, _, _, _ in self.uploads(bucket):
            self.drop_upload(upload)
        self._execute("DELETE FROM objects WHERE bucket = ?", (bucket,))

    def put_upload(self, upload: str, bucket: str, key: str, meta: str) -> None:
        """A multipart upload was created."""
        self._execute("INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?)", (upload, bucket, key, meta))

    def put_part(self, upload: str, number: int, body: str, meta: str) -> None:
        """A part of ``upload`` was stored; the part it replaces (if any) is removed."""
        with self.transaction():
            old = self._rows("SELECT body FROM parts WHERE upload = ? AND number = ?", (upload, number))
            self._db.execute("INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?)", (upload, number, body, meta))
            self._live.add(body)
        if old and old[0][0] != body:
            self._forget_body(str(old[0][0]))

    def drop_upload(self, upload: str) -> None:
        """A multipart upload was completed or aborted: its parts go."""
        with self.transaction():
            bodies = [str(r[0]) for r in self._rows("SELECT body FROM parts WHERE upload = ?", (upload,))]
            self._db.execute("DELETE FROM parts WHERE upload = ?", (upload,))
            self._db.execute("DELETE FROM uploads WHERE id = ?", (upload,))
        for body in bodies:
            self._forget_body(body)

    def uploads(self, bucket: str) -> list[tuple[str, str, str, list[tuple[int, str, str]]]]:
        """``(id, key, meta, [(number, body, meta)])`` of every multipart upload in progress in ``bucket``."""
        out = []
        for upload, key, meta in self._rows("SELECT id, key, meta FROM uploads WHERE bucket = ?", (bucket,)):
            parts = self._rows(
                "SELECT number, body, meta FROM parts WHERE upload = ? ORDER BY number", (upload,)
            )
            out.append((str(upload), str(key), str(meta), [(int(n), str(b), str(m)) for n, b, m in parts]))
        return out

    # ------------------------------------------------------------------------------------------ SQS
    def put_message(self, queue: str, message_id: str, data: str) -> None:
        """A message joined ``queue`` (sent, delivered by a rule, moved to a dead-letter queue)."""
        self._execute(
            "INSERT OR REPLACE INTO messages (id, queue, data) VALUES (?, ?, ?)", (message_id, queue, data)
        )

    def update_message(self, message_id: str, data: str) -> None:
        """A message changed where it is (received: its receive count)."""
        self._execute("UPDATE messages SET data = ? WHERE id = ?", (data, message_id))

    def delete_messages(self, message_ids: Iterable[str]) -> None:
        """These messages were deleted (or purged)."""
        with self.transaction():
            self._db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in message_ids])

    def messages(self, queue: str) -> list[str]:
        """The messages of ``queue``, in the order they joined it."""
        return [
            r[0] for r in self._rows("SELECT data FROM messages WHERE queue = ? ORDER BY rowid", (queue,))
        ]

    def drop_queue(self, queue: str) -> None:
        """``queue`` was purged or deleted."""
        self._execute("DELETE FROM messages WHERE queue = ?", (queue,))

    # ---------------------------------------------------------------------------------------- whole
    def wipe(self) -> None:
        """Forget everything (the emulator was reset)."""
        with self.transaction():
            for table in TABLES:
                self._db.execute(f"DELETE FROM {table}")  # the names are ours
            self._live.clear()
        self._collect_orphans()

    def sizes(self) -> dict[str, int]:
        """Row counts by table and bytes on disk (``benchmarks/persist.py``)."""
        out = {t: int(self._rows(f"SELECT count(*) FROM {t}")[0][0]) for t in TABLES}
        out["bytes"] = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        return out


class BodyFile:
    """An object's body as moto's ``FakeKey`` uses its buffer (seek, read, write, truncate, close), kept in
    a file under ``objects/`` instead of memory. It opens the file for each call: a stack holds thousands
    of objects, and an open descriptor each would exceed the process's limit."""

    def __init__(self, store: Store, body: str) -> None:
        self.store = store
        self.body = body
        self.path = store.body_path(body)
        self.position = 0
        self.closed = False

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self.position = offset
        elif whence == os.SEEK_CUR:
            self.position += offset
        else:
            self.position = self._size() + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def read(self, size: int = -1) -> bytes:
        try:
            with open(self.path, "rb", buffering=0) as f:
                f.seek(self.position)
                data = f.read() if size is None or size < 0 else f.read(size)
        except FileNotFoundError:
            return b""
        self.position += len(data or b"")
        return data or b""

    def write(self, data: bytes) -> int:
        if not data and not self.path.exists():
            return 0
        # unbuffered writes: what moto was given is with the operating system when this returns
        view = memoryview(data)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while view:  # Linux writes at most ~2 GiB per call
                done = os.pwrite(fd, view, self.position)
                self.position += done
                view = view[done:]
        finally:
            os.close(fd)
        return len(data)

    def truncate(self, size: int | None = None) -> int:
        size = self.position if size is None else size
        with contextlib.suppress(FileNotFoundError):
            os.truncate(self.path, size)
        return size

    def flush(self) -> None:
        return None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.store.release(self.body)

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0
