# The OpenADR apps (apps/openadr): VTN, VEN and the S2 service, with their own pinned venv.
# `make openadr-apps-test` installs what it needs (venv, Debian's PostgreSQL and Redis for the real
# FlexMeasures the end-to-end tests start on 127.0.0.1), then lints and tests.
OPENADR_APPS := apps/openadr
OPENADR_VENV := .cache/venvs/openadr
OPENADR_PYTHON ?= python3.11

.PHONY: openadr-apps-venv openadr-apps-lint openadr-apps-test openadr-apps-benchmark

openadr-apps-venv: $(OPENADR_VENV)/.stamp
$(OPENADR_VENV)/.stamp: $(OPENADR_APPS)/requirements.txt $(OPENADR_APPS)/requirements-dev.txt
	rm -rf $(OPENADR_VENV)
	$(shell command -v $(OPENADR_PYTHON) >/dev/null 2>&1 && echo $(OPENADR_PYTHON) || echo python3) -m venv $(OPENADR_VENV)
	$(OPENADR_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps \
		-r $(OPENADR_APPS)/requirements-dev.txt
	$(OPENADR_VENV)/bin/pip check
	touch $@

openadr-apps-lint: openadr-apps-venv ## ruff and hadolint on apps/openadr
	$(OPENADR_VENV)/bin/ruff check $(OPENADR_APPS)
	$(OPENADR_VENV)/bin/ruff format --check $(OPENADR_APPS)
	$(OPENADR_VENV)/bin/hadolint $(OPENADR_APPS)/Dockerfile.vtn $(OPENADR_APPS)/Dockerfile.ven

openadr-apps-test: openadr-apps-lint host-deps ## lint + pytest of the OpenADR apps (real FlexMeasures on loopback)
	cd $(OPENADR_APPS) && $(abspath $(OPENADR_VENV))/bin/python -m pytest -p no:cacheprovider tests

openadr-apps-benchmark: openadr-apps-venv host-deps ## latency and memory figures of BENCHMARKS.md
	cd $(OPENADR_APPS) && $(abspath $(OPENADR_VENV))/bin/python -m tests.benchmark

TEST_TARGETS += openadr-apps-test
