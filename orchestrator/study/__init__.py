"""The adapter study (docs/study.md): EdgeWisePersona-format data, splits, baseline, global and per-user
adapters, persona prediction; ``attune study edgewise`` runs it as resumable phases (pipeline.py)."""

# The phases in the order they run (pipeline.py); here so the CLI names them without importing the pipeline.
PHASES = ("data", "baseline", "global", "users", "persona", "ablations", "analysis")
