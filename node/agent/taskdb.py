"""The agent's local task database: ``<data_dir>/worker/tasks.db`` (swarmkit ``agent/storage.go``).

It holds every task assigned to this node and the last status the agent observed for it, so a
restarted ``swarmd`` knows which containers are its own and in which state it left them
(live restore), and what to report on the next session.

Design notes:
* SQLite in WAL mode, one row per task: the assigned ``Task`` and our ``TaskStatus`` as
  serialized protobufs. Each write is one transaction, so a crash leaves either the old row or
  the new one, never half of either. ``synchronous=NORMAL``: a power cut may lose the last
  few status writes (the agent then re-observes them from the containers), never corrupt.
* The task and its status are separate columns because they have separate writers: the
  manager's assignments (desired state) and our task managers (observed state).
* Used only from the event loop's thread; each call is a few tens of microseconds.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from swarm.api.objects_pb2 import Task
from swarm.api.types_pb2 import TaskStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id     TEXT PRIMARY KEY,
    task   BLOB NOT NULL,
    status BLOB
)
"""


class TaskDB:
    """Assigned tasks and their last observed status, persisted atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None)  # 1 statement = 1 txn
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)

    @classmethod
    def open(cls, data_dir: Path) -> TaskDB:
        return cls(Path(data_dir) / "worker" / "tasks.db")

    def close(self) -> None:
        self._db.close()

    def put_task(self, task: Task) -> None:
        """Store the assigned task (its status column is left alone unless it is new). Registry
        credentials are never written: they live in the agent's memory only."""
        if task.spec.container.HasField("pull_options"):
            copy = Task()
            copy.CopyFrom(task)
            copy.spec.container.ClearField("pull_options")
            task = copy
        self._db.execute(
            "INSERT INTO tasks(id, task, status) VALUES(?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET task = excluded.task",
            (task.id, task.SerializeToString(), task.status.SerializeToString()))

    def put_status(self, task_id: str, status: TaskStatus) -> None:
        self._db.execute("UPDATE tasks SET status = ? WHERE id = ?", (status.SerializeToString(), task_id))

    def delete(self, task_id: str) -> None:
        self._db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))

    def get(self, task_id: str) -> Task | None:
        row = self._db.execute("SELECT task, status FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return _task(row) if row else None

    def tasks(self) -> list[Task]:
        """Every stored task, with ``status`` replaced by the one we observed."""
        return [_task(row) for row in self._db.execute("SELECT task, status FROM tasks ORDER BY id")]


def _task(row: tuple[bytes, bytes | None]) -> Task:
    t = Task.FromString(row[0])
    if row[1] is not None:
        t.status.CopyFrom(TaskStatus.FromString(row[1]))
    return t
