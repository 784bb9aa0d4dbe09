"""Run the trainer service: ``python -m attune.services.trainer`` (services/common/launch.py)."""

from attune.services.common.launch import main

if __name__ == "__main__":
    main("trainer")
