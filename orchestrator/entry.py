"""The ``attune`` console script: the CLI, or a clear message where the CLI's packages are not installed.

``pip install attune`` alone installs what every service runs on; the command needs
``attune[orchestrator]`` (a service image installs only its own extra, attune[uservec] say).
"""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from attune.orchestrator.cli import main as cli_main
    except ModuleNotFoundError as err:
        if (err.name or "attune").split(".")[0] == "attune":
            raise
        print(f"attune: the attune command needs the package {err.name!r}, which this environment lacks; "
              "install the command with: pip install 'attune[orchestrator]'", file=sys.stderr)
        return 2
    return cli_main()
