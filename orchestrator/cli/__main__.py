"""``python -m attune.orchestrator.cli``: the ``attune`` command."""

import sys

from attune.orchestrator.cli import main

sys.exit(main())
