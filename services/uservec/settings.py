"""Settings of the user-vector service (environment prefix ATTUNE_USERVEC_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from attune.services.common.settings import ServiceSettings

DB_FILE = "uservec.sqlite3"


class UserVecSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ATTUNE_USERVEC_", extra="ignore")

    port: int = Field(50054, ge=0, le=65535)
    # Empty: <ATTUNE_DATA_DIR>/uservec.sqlite3.
    db_path: Path | None = None
    # SQLite busy timeout: how long a write waits for another process's transaction.
    busy_timeout_s: float = Field(30.0, gt=0)
    # Concurrent updates are committed together, up to this many per transaction (one fsync).
    max_write_batch: int = Field(64, ge=1, le=4096)
    max_user_id_chars: int = Field(256, ge=1, le=4096)

    def resolved_db_path(self, data_dir: Path) -> Path:
        """``db_path``, or the default file under ``data_dir`` when unset."""
        return self.db_path if self.db_path is not None else Path(data_dir) / DB_FILE
