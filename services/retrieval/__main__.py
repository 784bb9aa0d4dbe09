"""Run the retrieval service: ``python -m attune.services.retrieval`` (services/common/launch.py)."""

from attune.services.common.launch import main

if __name__ == "__main__":
    main("retrieval")
