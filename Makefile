# Two commands that work on a fresh clone with Python 3.11+ and make: `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_DIR ?= $(CURDIR)/.demo

.PHONY: install browser demo tour test lint typecheck bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,onnx,lightgbm,xgboost,ray,s3]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

# The whole loop as a narrated story (mloop demo): about 2-3 minutes on 2 cores once installed.
demo: install
	@rm -rf "$(DEMO_DIR)"
	@$(BIN)/mloop demo "$(DEMO_DIR)"

# The feature tour: every command group once (gates, approvals, ONNX export, shadow, batch, drift).
tour: install
	@bash examples/tour.sh "$(DEMO_DIR)-tour"

# Headless Chromium for the report tests (tests/monitoring/test_report_browser.py): Debian's
# package, installed with apt-get when missing and we are root; elsewhere those tests skip and say why.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing chromium for the report tests (apt-get)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } || \
	  echo "Could not install chromium: the browser report tests will skip"; \
	else echo "chromium is missing (install it: apt-get install chromium): the browser report tests will skip"; fi

test: install browser
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=40

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/tracking.py
	$(BIN)/python benchmarks/hashing.py

clean:
	rm -rf $(VENV) .demo .demo-tour .mypy_cache .ruff_cache
