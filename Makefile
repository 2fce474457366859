# Set-up is part of every target: a fresh clone needs nothing installed by hand.
# torch is pinned by constraints.txt (the CPU wheel on a CPU machine).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= runs/quick
JOBS ?= 2
# Optional extra index for the torch wheel, e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu
# on a machine whose default index serves the CUDA build.
TORCH_INDEX ?=
PIP_TORCH := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)

.PHONY: setup quick test test-fault test-all bench mutation docs docs-data test-docs clean

# Set-up says what it is doing, one short line per stage (pip's own log goes to
# $(VENV)/setup.log and is printed only if pip fails), so a first `make` is not silent
# for minutes and CI logs stay short.
SETUP_LOG := $(VENV)/setup.log
PIP := $(BIN)/python -m pip --disable-pip-version-check
PIP_INSTALL := $(PIP) install --progress-bar off

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || { echo "ml2bench set-up: creating $(VENV) with $(PYTHON)"; \
	  $(PYTHON) -m venv $(VENV); }
	@echo "ml2bench set-up: upgrading pip (log: $(SETUP_LOG))"
	@$(PIP_INSTALL) --upgrade pip > $(SETUP_LOG) 2>&1 || { cat $(SETUP_LOG); exit 1; }
	@echo "ml2bench set-up: installing pinned torch ($$(grep '^torch' constraints.txt)) and the dependencies; this takes 1-2 minutes"
	@$(PIP_INSTALL) $(PIP_TORCH) -c constraints.txt -e '.[test,asv,docs]' >> $(SETUP_LOG) 2>&1 \
	  || { cat $(SETUP_LOG); exit 1; }
	@echo "ml2bench set-up: $$(grep -E '^Successfully installed' $(SETUP_LOG) | tail -n 1 | wc -w | awk '{print ($$1 > 2 ? $$1 - 2 : 0)}') packages installed or updated"
	@touch $(STAMP)
	@echo "ml2bench set-up: done ($(VENV) ready)"

setup: $(STAMP)

## The main job: the quick suite -> parquet results, leaderboard table, PNG plots, then
## the leaderboard compared with the committed reference in every number but times
## (portable numerics: the same bits on every x86-64-v3 CPU). A failed run or a
## difference makes the target fail (exit 1), after the table and plots are written.
REFERENCE ?= results/quick_leaderboard.md
quick: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/ml2bench run quick --jobs $(JOBS) --out $(OUT); status=$$?; \
	  if [ $$status -gt 1 ]; then exit $$status; fi; \
	  $(BIN)/ml2bench table --out $(OUT) > $(OUT)/leaderboard.md || exit $$?; \
	  cat $(OUT)/leaderboard.md; \
	  $(BIN)/ml2bench plot --out $(OUT) || exit $$?; \
	  $(BIN)/ml2bench table --out $(OUT) --compare $(REFERENCE) > /dev/null || status=1; \
	  exit $$status

## The default test suite (under ~10 minutes on 2 cores).
test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

## The SIGKILL fault test (marked slow: about a minute of CPU in its own processes); .ci/run
## runs it after the default suite.
test-fault: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m slow tests/runner/test_fault.py

## Everything, including tests marked slow.
test-all: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py

## Mutation testing of the numerical core (cosmic-ray; hours for every mutant on 2 cores):
## per-package scores and results/mutation.md. Resumable; MUTATION_ARGS narrows it, e.g.
## MUTATION_ARGS='--packages accounting --max-mutants 80'. Not part of CI.
MUTATION_ARGS ?=
mutation: $(STAMP)
	nice -n 15 $(BIN)/python tools/mutation.py $(MUTATION_ARGS) --report results/mutation.md

## The documentation site (docs/ -> docs/_build/html): warnings are errors, then the
## doctests of the pages' examples. The reference tables and the layer diagram are
## generated from the code during the build (docs/_ext/generated.py); internal links are
## checked by the build (-W: a broken cross-reference is a warning) and, on the built
## pages, by tests/docs/test_docs_site.py.
SPHINX := OMP_NUM_THREADS=1 $(BIN)/python -m sphinx
docs: $(STAMP)
	$(SPHINX) -b html -W --keep-going -q -d docs/_build/doctrees docs docs/_build/html
	$(SPHINX) -b doctest -W --keep-going -q -d docs/_build/doctrees docs docs/_build/doctest
	@echo "docs: docs/_build/html/index.html"

## The built site in headless Chromium (tests/docs/test_docs_site.py, marked slow): every
## page of the main sections renders and its images load, internal links resolve, the
## search page finds a solver. .ci/run runs it after `make docs`.
test-docs: docs
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m slow tests/docs

## The measured tables the documentation includes, each written by the script that
## measures it (with the machine it ran on). Timings depend on the machine's load.
docs-data: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/obstacle_mesh_independence.py --markdown results/obstacle_mesh_independence.md

clean:
	rm -rf $(VENV) runs .asv docs/_build docs/_generated docs/reference/api
