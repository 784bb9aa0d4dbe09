"""Job records on disk: one JSON file per job, replaced atomically on every change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import json_format

from attune.services.common.files import atomic_write_json
from attune.services.common.logging import get_logger
from attune.v1 import trainer_pb2

log = get_logger(__name__)


@dataclass
class Record:
    job: trainer_pb2.TrainJob
    created_at: float
    # Bumped on every change; watchers compare it with the last one they sent.
    version: int = 0


class JobStore:
    """``<folder>/<job_id>.json`` per job; a reader never sees a half-written file."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def save(self, record: Record) -> None:
        """Write to a temporary file, flush it to disk, then rename it over the record."""
        data = {"created_at": record.created_at,
                "job": json_format.MessageToDict(record.job, preserving_proto_field_name=True)}
        atomic_write_json(self.path(record.job.job_id), data, indent=None)

    def load_all(self) -> list[Record]:
        """Every readable record, oldest first; an unreadable file is logged and skipped."""
        records = []
        for path in self.folder.glob("*.json"):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                job = json_format.ParseDict(data["job"], trainer_pb2.TrainJob())
                records.append(Record(job, float(data["created_at"])))
            except (OSError, ValueError, KeyError, json_format.ParseError) as err:
                log.warning("job_record_unreadable", path=str(path), error=str(err))
        return sorted(records, key=lambda r: r.created_at)
