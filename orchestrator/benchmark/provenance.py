"""What a run actually ran on: ``<output_dir>/provenance.json``, one entry per start of the run.

experiment.yaml says what was asked for (service addresses, settings); this file
says what answered: the model each role was served (from GetInfo, which the
in-process core and the gRPC client both answer), the sha256 of the weights
where this process can see the files, the project's commit and the versions of
the packages that shape results. A resumed run may meet another model or
backend, so every start is kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import platform
import re
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from attune.orchestrator.benchmark.experiment import ExperimentError
from attune.services.common.files import atomic_write_json
from attune.services.model.settings import ModelSettings
from attune.services.model.weights import smollm2_gguf

PROVENANCE_FILE = "provenance.json"
# Under <data_dir>/models, next to the converted model: path -> {size, mtime_ns, sha256}.
HASH_CACHE_FILE = "weights.sha256.json"
REMOTE = "unavailable (remote endpoint)"
UNKNOWN = "unknown"
# Looked up with importlib.metadata, never imported (torch alone takes seconds); None: not installed.
PACKAGES = ("torch", "transformers", "peft", "trl", "vllm", "grpcio", "protobuf", "qdrant-client", "qdrant-edge-py",
            "sentence-transformers")
# What an in-process core's settings add to GetInfo; never the API key.
SETTINGS_FIELDS = {"backend", "model", "dtype", "max_context", "max_batch", "openai_base_url"}
ROOT = Path(__file__).resolve().parents[2]


# ---- code and packages --------------------------------------------------------


def _git(*args: str, root: Path = ROOT) -> str | None:
    """git's output in ``root``, or None when it is not a checkout or git fails.

    Only a checkout whose top is ``root``: an installed copy inside some other
    repository must not report that repository's commit.
    """
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30,
                              check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def git_commit(root: Path = ROOT) -> str:
    commit = _git("rev-parse", "HEAD", root=root) or ""
    return commit if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit) else UNKNOWN


def git_dirty(root: Path = ROOT) -> bool | str:
    """Whether files differ from the commit (untracked ones not ignored by .gitignore count)."""
    status = _git("status", "--porcelain", root=root)
    return UNKNOWN if status is None else bool(status)


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    return {name: package_version(name) for name in names}


# ---- weights --------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_sha256(path: Path, cache: Path) -> str:
    """sha256 of ``path``, read from ``cache`` while the file's size and mtime are unchanged."""
    stat = path.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    try:
        entries = json.loads(cache.read_text())
    except (OSError, ValueError):
        entries = {}
    if not isinstance(entries, dict):
        entries = {}
    entry = entries.get(str(path))
    if isinstance(entry, dict) and entry.get("sha256") and all(entry.get(k) == v for k, v in stamp.items()):
        return entry["sha256"]
    digest = sha256_file(path)
    atomic_write_json(cache, {**entries, str(path): {**stamp, "sha256": digest}})
    return digest


def weight_files(settings: ModelSettings) -> list[Path]:
    """The files an in-process core's weights come from: the embedded GGUF, or a folder's safetensors."""
    if not settings.model:
        return [smollm2_gguf()]
    return sorted(Path(settings.model).expanduser().glob("*.safetensors"))


def hash_cache(data_dir: Path) -> Path:
    return data_dir / "models" / HASH_CACHE_FILE


async def weights_sha256(settings: ModelSettings | None, data_dir: Path) -> dict[str, str] | str:
    """sha256 by file path, hashed off the event loop; a note where the weights are out of reach."""
    if settings is None or settings.backend == "openai":
        return REMOTE
    try:
        files = weight_files(settings)
        hashes = {str(f): await asyncio.to_thread(cached_sha256, f, hash_cache(data_dir)) for f in files}
    except OSError as err:
        return f"unavailable ({err})"
    return hashes or f"unavailable (no .safetensors files in {settings.model})"


# ---- the record ------------------------------------------------------------------


def message_dict(message) -> dict:
    """A flat protobuf message's fields, defaults included (MessageToDict would drop them)."""
    values = {field.name: getattr(message, field.name) for field in message.DESCRIPTOR.fields}
    return {name: v if isinstance(v, str | int | float | bool) else list(v) for name, v in values.items()}


async def model_entry(model, data_dir: Path) -> dict:
    """What serves one role: GetInfo's fields, plus the in-process core's settings and weights."""
    settings = getattr(model, "settings", None)
    if not isinstance(settings, ModelSettings):
        settings = None
    entry = {"served_by": getattr(model, "target", "in_process"), "info": message_dict(await model.get_info())}
    if settings is not None:
        entry["settings"] = settings.model_dump(mode="json", include=SETTINGS_FIELDS)
    entry["weights_sha256"] = await weights_sha256(settings, data_dir)
    return entry


def code_state() -> dict:
    return {"commit": git_commit(), "dirty": git_dirty(), "attune": package_version("attune") or UNKNOWN}


async def collect(transport: str, models: dict[str, object], data_dir: Path, seeds: dict | None = None) -> dict:
    """This start's entry; ``models`` maps each role (agent, user_simulator) to the model object it uses."""
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "transport": transport,
        "seeds": seeds or {},
        "models": {role: await model_entry(model, data_dir) for role, model in models.items()},
        "code": await asyncio.to_thread(code_state),
        "python": platform.python_version(),
        "packages": package_versions(),
    }




def read_starts(path: Path) -> list[dict]:
    """The entries already there; a file that is not a list of them is refused, never overwritten."""
    if not path.exists():
        return []
    try:
        starts = json.loads(path.read_text())
    except ValueError as err:
        raise ExperimentError(f"{path} is not valid JSON ({err}); move it aside to go on") from None
    if not isinstance(starts, list):
        raise ExperimentError(f"{path} is not a list of run starts; move it aside to go on")
    return starts


async def record_start(output_dir: Path, transport: str, models: dict[str, object], data_dir: Path,
                       seeds: dict | None = None) -> dict:
    """Append this start to ``<output_dir>/provenance.json`` and return its entry."""
    path = output_dir / PROVENANCE_FILE
    starts = read_starts(path)
    entry = await collect(transport, models, data_dir, seeds)
    atomic_write_json(path, [*starts, entry])
    return entry
