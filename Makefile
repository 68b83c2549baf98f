# Quick start: `make demo` builds the default target, `make test` runs the tests.
# Both create the virtual environment .venv/ first if it is missing (`make .venv` alone makes it).

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The demo and the tests never need the Hugging Face hub; fail fast instead of trying it.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRL_EXPERIMENTAL_SILENCE := 1
# Keep tokenizers from forking thread pools inside data-loader workers.
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test test-rehearsal bench report table plan fetch fetch-list lint dashboard clean-results

# make table TABLE=pref_align_scan [SCALE=tiny]: one comparison table (CSV, Markdown, plot).
TABLE ?= demo
SCALE ?= full

.venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: .venv
	snakemake --profile profiles/default

# Lint first: a lint error fails `make test` before any test runs.
# --durations: the slowest tests, to size the suite by (it must stay under 40 minutes on 2 cores).
test: .venv lint
	pytest -m "not rehearsal_tables" --durations=15

# Every published family's table at scale rehearsal, in one build (tests/workflow/test_rehearsal_tables.py):
# kept out of `make test` for its length; CI runs both.
test-rehearsal: .venv
	pytest -m rehearsal_tables --durations=5

# Speed and memory figures, side by side in one run (bench/RESULTS.md holds a recent one): where the
# demo's job time goes, the DAG, our SFT/DPO against plain TRL, the sweep against one job per run,
# and the GPU checks (which say so and stop without a GPU). Builds the demo first.
bench: demo
	python bench/demo_jobs.py
	python bench/dag_build.py
	python bench/trl_vs_ours.py
	python bench/sweep.py
	bash bench/gpu_check.sh

# The report of the default target (at SCALE=tiny: results/tiny/results/report.html).
report: .venv
	snakemake --profile profiles/default --config scale=$(SCALE) --report results/report.html

table: .venv
	snakemake results/tables/$(TABLE).md --profile profiles/default --config scale=$(SCALE)

# make plan [TABLE=pref_align_scan] [SCALE=tiny]: the resolved plan of one table as JSON.
plan: .venv
	python -m handbook.plan --table $(TABLE) --scale $(SCALE)

# make dashboard [SCALE=tiny] [DASHBOARD=trackio]: the training curves of runs with report_to:
# tensorboard (or trackio), served on localhost from results/runs (handbook/dashboards.py).
DASHBOARD ?= tensorboard
RUNS = $(if $(filter full,$(SCALE)),results/runs,results/$(SCALE)/results/runs)
dashboard: .venv
ifeq ($(DASHBOARD),trackio)
	TRACKIO_DIR=$(RUNS)/trackio trackio show
else
	tensorboard --logdir $(RUNS) --host 127.0.0.1
endif

# make fetch TABLE=zephyr-7b-beta: on a cluster's submit host, download every hub model, dataset
# and lm-eval task dataset the table needs into the Hugging Face caches its jobs read (set HF_HOME
# to a shared folder), so jobs on compute nodes without internet run with the hub switched off.
# The only target that goes online; `make fetch-list` shows what it would download.
fetch: .venv
	HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 python -m handbook.offline fetch --table $(TABLE)

fetch-list: .venv
	python -m handbook.offline list --table $(TABLE)

# ruff (configured in pyproject.toml) on the Python code, snakefmt and Snakemake's own linter on
# the workflow; .pre-commit-config.yaml runs the formatters before each commit.
lint: .venv
	ruff check .
	ruff format --check .
	snakefmt --check workflow
	snakemake --lint

clean-results:
	rm -rf results .snakemake
