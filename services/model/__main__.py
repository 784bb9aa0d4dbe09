"""Run the model service: ``python -m attune.services.model`` (services/common/launch.py)."""

from attune.services.common.launch import main

if __name__ == "__main__":
    main("model")
