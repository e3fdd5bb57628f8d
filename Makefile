# The README's set-up verbs. Each creates the environment first if it is missing.
#   make demo   build the embedded corpus and run the default recipe (egs/kat)
#   make test   run the test suite (what CI runs)
#   make bench  print the benchmark figures
VENV ?= .venv
export VENV
DEMO_LANG ?= kat

.PHONY: install demo test lint bench

install:
	bash tools/install.sh

demo: install
	cd egs/$(DEMO_LANG) && ./run.sh

test: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/python -m pytest -q --durations=15

bench: install
	$(VENV)/bin/python bench/asr_bench.py

lint: install
	$(VENV)/bin/ruff check speechml tests bench
	$(VENV)/bin/ruff format --check speechml tests bench
