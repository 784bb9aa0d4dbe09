"""The orchestrator service: runs benchmark experiments for remote clients (``attune submit``)."""
