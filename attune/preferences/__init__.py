"""The preference vocabulary both sides share: the profile model, the schema of conflict groups and
options, and the program checkers that verify a reply follows a preference.

The judge service and the orchestrator both import it; it imports only ``attune.services.common``
and third-party libraries, never a service or the orchestrator (the import-linter contract in
pyproject.toml keeps it so).
"""
