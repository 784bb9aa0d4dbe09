"""Run any registered service: ``python -m attune.services NAME`` (default: $ATTUNE_SERVICE)."""

from attune.services.common.launch import main

if __name__ == "__main__":
    main()
