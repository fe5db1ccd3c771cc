# Two commands on a fresh machine: `make train` (the main job) and `make test` (the test suite).
# Each creates the virtual environment first if it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Where the data sets are: found by the project itself (src.default_data_dir), the same from make and
# from python -m: RNNLAB_DATA_DIR if you set it; else ../shared/data beside the checkout; else data/.

.PHONY: install train test lint docs bench quality scaling baselines gpu-check clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,search,cluster,docs]'
	@# the Hydra Optuna sweeper of earlier versions pinned optuna < 3; the project's own sweeper replaced it
	$(PY) -m pip uninstall --quiet --yes hydra-optuna-sweeper 2>/dev/null || true
	touch $@

train: install  ## the main job: names x gru, one run folder under outputs/
	$(PY) -m src.train task=names model=gru

test: install  ## the whole suite, slow tier included (as CI runs it), two test processes (pytest-xdist)
	$(PY) -m pytest -n 2 --dist worksteal

lint: install
	$(PY) -m ruff check src tests benchmarks docs hydra_plugins
	$(PY) -m ruff format --check src tests benchmarks docs hydra_plugins

docs: install  ## the documentation site from docs/ into site/ (mkdocs.yml); warnings fail it, as in CI
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

bench: install  ## speed: Lightning vs a bare loop, every task x cell (~17 min)
	$(PY) -m benchmarks.speed

quality: install  ## every task x cell x 3 seeds, the quality table of docs/results.md (~45 min on 2 cores)
	$(PY) -m benchmarks.quality

scaling: install  ## names and dinos epoch time against data size and width, outputs/benchmarks/scaling.png (~4 min)
	$(PY) -m benchmarks.scaling

gpu-check: install  ## on a GPU machine: every task x cell x precision through fit, test, predict, inspect (~10 min)
	$(PY) -m benchmarks.gpu_check

baselines: install  ## every task's model without recurrence, one sweep folder under outputs/multirun (~4 min)
	$(PY) -m src.baseline -m task=names,dinos,pairs,translate,binary

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
