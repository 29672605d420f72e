# Fresh clone: `make demo` or `make test` sets up .venv and runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Named datasets: ../shared/data when it exists beside the clone (DESIGN.md, "Data").
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)/MANIFEST.md),)
export SENTIMENT_NEURON_DATA ?= $(SHARED_DATA)
endif

.PHONY: setup demo demo-pretrain results test test-all clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned in pyproject.toml; on these machines pip finds its CPU wheel on disk.
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The shipped model (mlstm-reviews-512) on SST-2 and IMDB: minutes on 2 CPU cores.
demo: $(STAMP)
	$(BIN)/sentiment-neuron demo

# The same, from a model pretrained here for 17 minutes on IMDB's unlabeled reviews.
demo-pretrain: $(STAMP)
	$(BIN)/sentiment-neuron demo --pretrain-minutes 17 --out runs/demo-pretrain

# Every number in the README's results section, regenerated with the shipped model (under an hour).
results: $(STAMP)
	$(BIN)/sentiment-neuron results --out runs/results --readme README.md

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

clean:
	rm -rf $(VENV) runs .pytest_cache
