"""Run the extractor service: ``python -m attune.services.extractor`` (services/common/launch.py)."""

from attune.services.common.launch import main

if __name__ == "__main__":
    main("extractor")
