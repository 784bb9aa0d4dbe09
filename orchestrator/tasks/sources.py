"""Reading records from local files and folders, and from the hub through `datasets.load_dataset`.

Local files keep the dataset's native layout: JSON Lines (optionally gzipped),
a JSON list, CSV with a header row, or Parquet. A folder is read file by file in
name order; its records carry the file's stem under "_file" (MMLU's CSV folders
name the subject only in the file name).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from attune.orchestrator.tasks.errors import TaskError
from attune.services.common.jsonl import parse_jsonl

SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".csv", ".parquet")
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def read_path(path: Path) -> list[dict]:
    if not path.exists():
        raise TaskError(f"{path} does not exist")
    if path.is_dir():
        return read_folder(path)
    if not path.name.endswith(SUFFIXES):
        raise TaskError(f"{path}: unsupported file type; use one of {', '.join(SUFFIXES)}")
    try:
        return read_file(path)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise TaskError(f"{path} could not be parsed: {err}") from None


def read_folder(folder: Path) -> list[dict]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(SUFFIXES))
    if not files:
        raise TaskError(f"{folder} holds no {', '.join(SUFFIXES)} files")
    records = []
    for file in files:
        stem = file.name.split(".")[0]
        records += [{**row, "_file": stem} for row in read_path(file)]
    return records


def read_file(path: Path) -> list[dict]:
    name = path.name
    if name.endswith(".parquet"):
        import pyarrow.parquet

        return pyarrow.parquet.read_table(path).to_pylist()
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        if name.endswith(".csv"):
            return list(csv.DictReader(handle))
        text = handle.read()
    if ".jsonl" in name:
        return json_lines(text)
    return json_document(text)


def json_lines(text: str) -> list[dict]:
    return parse_jsonl(text)  # a bad line: JsonLinesError (a ValueError) naming it


def json_document(text: str) -> list[dict]:
    """A JSON list of records; a .json file that is really JSON Lines is accepted too."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return json_lines(text)
    if isinstance(data, dict):
        data = next((value for value in data.values() if isinstance(value, list)), [data])
    if not isinstance(data, list):
        raise ValueError("expected a list of records")
    return data


def read_hub(hub_id: str, config: str | None, split: str) -> list[dict]:
    """Rows of `hub_id` via `datasets.load_dataset`; TaskError (fast) when the hub cannot be reached."""
    import datasets

    advice = "pass a local copy of the dataset as source=PATH instead"
    if not datasets.config.HF_HUB_OFFLINE and not hub_reachable(datasets.config.HF_ENDPOINT):
        raise TaskError(f"cannot reach the hub ({datasets.config.HF_ENDPOINT}) to load {hub_id}; {advice} "
                        "(or set HF_HUB_OFFLINE=1 if it is already in your datasets cache)")
    try:
        return datasets.load_dataset(hub_id, config, split=split).to_list()
    except Exception as err:  # datasets raises many types: network, gated, missing, loading scripts
        reason = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
        raise TaskError(f"could not load {hub_id} (config {config}, split {split}) from the hub: {reason}; "
                        f"{advice}") from None


def hub_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """A quick TCP check, so an offline machine fails at once instead of after the hub client's retries.

    Behind a proxy the direct check says nothing, so the load is attempted.
    """
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return True
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False
