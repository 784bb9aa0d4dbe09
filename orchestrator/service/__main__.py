"""Run the orchestrator service: ``python -m attune.orchestrator.service``, or ``python -m attune.services
orchestrator`` (services/common/launch.py)."""

from attune.services.common.launch import main

if __name__ == "__main__":
    main("orchestrator")
