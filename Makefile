# Fresh clone: `make demo` or `make test` sets up .venv and runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Named datasets: ../shared/data when it exists beside the clone (README, "Data").
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)/MANIFEST.md),)
export SENTIMENT_NEURON_DATA ?= $(SHARED_DATA)
endif

.PHONY: setup demo demo-pretrain results test test-all test-browser browser gpu-pack clean

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

# Headless Chromium for the page's end-to-end test (tests/serve/test_serve_browser.py): Debian's chromium
# and chromium-driver, installed with apt-get where it runs as root. Never fails: where no browser can be
# installed, the browser test skips and says why. `make test` tries once (a stamp); `make browser` again.
BROWSER_STAMP := $(VENV)/.browser
INSTALL_BROWSER = if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium and chromium-driver (apt-get) for the browser test"; \
	  (timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
	    chromium chromium-driver >/dev/null) || echo "could not install chromium: the browser test will skip"; \
	else echo "no chromium, and apt-get needs root: the browser test will skip"; fi

$(BROWSER_STAMP): | $(STAMP)
	@$(INSTALL_BROWSER)
	@touch $@

browser:
	@$(INSTALL_BROWSER)

test: $(STAMP) $(BROWSER_STAMP)
	$(BIN)/python -m pytest -q

# The page typed into in headless Chromium (also part of `make test`, where a browser is installed).
test-browser: $(STAMP) browser
	$(BIN)/python -m pytest -q -m browser tests/serve

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

# The pretraining corpus for a GPU window (README, "On a GPU"): IMDB unsup+train and OpinRank reviews,
# preprocessed and xz-compressed into runs/gpu/pack (<= 56 MiB; a few minutes). Then scripts/gpu_flagship.sh.
gpu-pack: $(STAMP)
	PYTHON=$(abspath $(BIN)/python) bash scripts/gpu_flagship.sh pack

clean:
	rm -rf $(VENV) runs .pytest_cache
