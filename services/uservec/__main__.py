"""Run the uservec service: ``python -m attune.services.uservec`` (services/common/launch.py)."""

from attune.services.common.launch import main

if __name__ == "__main__":
    main("uservec")
