# The two commands of the README are `make up` and `make test`; everything else is a step of them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
CACHE ?= $(HOME)/.cache/cariflex
export CARIFLEX_CACHE := $(CACHE)
# The collection resolves its own FQCN from the checkout through .cache/collections (see ansible.cfg).
export PATH := $(abspath $(VENV))/bin:$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

# Fragments add their own targets and append to these lists.
TEST_TARGETS :=
include $(wildcard mk/*.mk)

.PHONY: help venv collection-link host-deps engine images images-test lint sanity unit integration molecule \
	scenario test up down clean requirements-refresh

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

venv: $(VENV)/.stamp collection-link ## the pinned toolchain in .venv
$(VENV)/.stamp: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

collection-link:
	@mkdir -p .cache/collections/ansible_collections/digitribe
	@ln -sfn ../../../.. .cache/collections/ansible_collections/digitribe/cariflex

host-deps: ## Debian packages the harness needs (installs the missing ones; Debian and root only)
	scripts/host-deps

unit: venv ## unit tests of modules, module_utils and harness scripts
	$(VENV)/bin/pytest tests/unit roles/traefik/files/socket-proxy

integration: venv host-deps ## modules against a real FlexMeasures on loopback
	$(VENV)/bin/pytest -p no:cacheprovider tests/integration

engine: host-deps ## a Docker engine and the local registry (started if missing)
	@scripts/engine >/dev/null

images: venv engine ## build the harness's images (cached) and push them to the local registry
	$(VENV)/bin/python scripts/images.py build
	registry=$$(scripts/engine) && $(VENV)/bin/python scripts/images.py push "$$registry"

images-test: images ## contract tests of the stand-in images (what the roles rely on)
	$(VENV)/bin/pytest -p no:cacheprovider images/test_images.py

lint: venv ## yamllint, ansible-lint (production profile), ruff, hadolint
	yamllint --strict .
	ansible-lint
	ruff check .
	ruff format --check .
	hadolint images/*/Dockerfile roles/*/files/*/Dockerfile

sanity: venv ## ansible-test sanity on a copy of the collection
	scripts/sanity

# The scenarios `make test` runs, longest first: JOBS lanes (two: these machines have two cores)
# each take the next one when they are free, so the longest does not start last. Three lanes were
# tried (2026-11-26) and lost: load 10 to 12, every scenario two to three times slower (stack
# 2124 s against 1060 s). Each scenario has its own test host, nested engine and image store, so
# they do not meet.
SCENARIOS ?= stack adopt simulator backup grafana flexmeasures openadr firewall wireguard traefik docker firewall_ssh harness
JOBS ?= 2

molecule: images ## every Molecule scenario (scripts/scenario: idempotence and a no-change check mode)
	@status=0; t0=$$(date +%s); \
	printf '%s\n' $(SCENARIOS) | xargs -P $(JOBS) -n 1 scripts/scenario || status=$$?; \
	echo "scenarios: $$(( $$(date +%s) - t0 )) s in $(JOBS) lane(s); seconds per scenario (artifacts/molecule/*/timings.tsv):"; \
	for s in $(SCENARIOS); do \
	  awk -v s="$$s" '{t += $$3} END {printf "  %-14s %5d s\n", s, t}' "artifacts/molecule/$$s/timings.tsv" 2>/dev/null || true; \
	done; \
	for s in $(SCENARIOS); do cat "artifacts/molecule/$$s/failed.txt" 2>/dev/null || true; done; \
	exit $$status

scenario: images ## one Molecule scenario: make scenario S=NAME (KEEP=1 keeps the host)
	scripts/scenario "$(S)"

test: lint sanity unit integration images-test $(TEST_TARGETS) molecule ## everything CI runs
	@echo "make test: all passed"

up: images ## the dev host with the whole system: site.yml -i inventories/dev, then URLs and health
	$(VENV)/bin/python scripts/dev_host.py up

down: ## remove the dev host
	$(VENV)/bin/python scripts/dev_host.py down

clean: down ## remove the venv, caches in the checkout and artifacts (not the image cache)
	rm -rf $(VENV) .cache artifacts build

requirements-refresh: ## re-pin requirements.txt from the loose names in it
	scripts/requirements-refresh
