"""Run the judge service: ``python -m attune.services.judge`` (services/common/launch.py)."""

from attune.services.common.launch import main

if __name__ == "__main__":
    main("judge")
