# cslr.platform — developer and lab entry points. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV      ?= .venv
VENV_MIN  ?= .venv-min
MATRIX    ?= $(VENV_MIN) $(VENV)
BIN       := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export CSLR_LAB_ROOT := $(CURDIR)
LAB_HOSTS ?= 3
LAB_INV   := inventories/lab
SCENARIOS ?= default
# A time budget for make test's molecule tests, in seconds from its start (0: none): a test that
# would start later fails at once and no playbook run of a test outlasts it, so the run ends with
# its report instead of being killed without one by a CI limit. .ci/run sets the deadline itself
# (CSLR_SUITE_DEADLINE, epoch seconds) from CI's 90 minutes.
TEST_BUDGET ?= 0

.PHONY: help venv venv-min matrix docker images images-check lab lab-hosts lab-down test test-quick unit lint sanity molecule clean collection ee-context bench

help: ## List targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

venv: ## Install the pinned toolchain into .venv (newest Python 3.12+ found; README: Toolchain)
	scripts/bootstrap.sh $(VENV)

venv-min: ## The lowest supported toolchain (ansible-core 2.19) into .venv-min, for make matrix
	scripts/bootstrap.sh $(VENV_MIN) --min

docker: ## Install/start the local Docker engine if needed
	scripts/ensure-docker.sh

images: docker ## Build the lab base + stack images (cached by recipe hash)
	scripts/images.sh build

images-check: images ## Run each lab image the way the stacks use it (throwaway network, removed after)
	scripts/images.sh check

lab-hosts: venv images ## Create/refresh the lab's simulated hosts (LAB_HOSTS=N)
	@if ! grep -q "($(LAB_HOSTS) hosts)" $(LAB_INV)/hosts.yml; then \
	  echo "lab: writing a $(LAB_HOSTS)-host inventory to $(LAB_INV)/hosts.yml"; \
	  python3 scripts/lab_inventory.py $(LAB_HOSTS) > $(LAB_INV)/hosts.yml; fi
	ansible-playbook -i $(LAB_INV) playbooks/lab/create.yml

lab: lab-hosts ## Set up everything and run site.yml against the lab
	ansible-playbook -i $(LAB_INV) site.yml

lab-down: venv ## Destroy the lab hosts, their volumes and network
	ansible-playbook -i $(LAB_INV) playbooks/lab/destroy.yml

unit: venv ## Unit tests (collection plugins, validator corpus, helpers)
	pytest -q

lint: venv ## yamllint, ansible-lint (production profile)
	yamllint -s .
	ansible-lint --profile production --offline

test-quick: venv ## Fast checks for iteration (< 2 min): unit tests minus slow ones, lint
	pytest -q -m "not slow"
	$(MAKE) --no-print-directory lint

sanity: venv ## ansible-test sanity for the collection (venv mode, works offline)
	scripts/sanity.sh

matrix: venv venv-min ## Unit tests + ansible-test sanity on the lowest and the newest ansible-core, one line each
	MATRIX_DONE="$(MATRIX_DONE)" scripts/matrix.sh $(MATRIX)

molecule: venv images ## Molecule scenarios (SCENARIOS="default ...")
	for s in $(SCENARIOS); do molecule test -s $$s; done

# The image checks first (the images are what molecule runs); then lint, the unit tests,
# ansible-test sanity and the version matrix (CPU-bound, one after the other) run alongside the
# molecule scenarios (the longer path: its hosts and playbooks get the CPU first, the checks run
# niced in what is left). Their output is printed after molecule's, from .cache/matrix-run.log; a
# failure in either fails the run. TEST_BUDGET bounds the molecule tests.
test: ## The whole suite: image checks, then every molecule scenario alongside lint, unit tests, sanity and the version matrix
	@start=$$(date +%s); rc=0; mpid=; \
	if [ -z "$${CSLR_SUITE_DEADLINE:-}" ] && [ "$(TEST_BUDGET)" -gt 0 ]; then export CSLR_SUITE_DEADLINE=$$(( start + $(TEST_BUDGET) )); fi; \
	if [ -n "$${CSLR_SUITE_DEADLINE:-}" ]; then \
	  echo "make test: molecule tests not started by $$(date -d @$$CSLR_SUITE_DEADLINE +%H:%M:%S) fail (CSLR_SUITE_DEADLINE, TEST_BUDGET)"; fi; \
	rm -f .cache/matrix.txt .cache/matrix-run.log .cache/testinfra-*.txt; mkdir -p .cache; \
	$(MAKE) --no-print-directory venv docker && \
	$(MAKE) --no-print-directory images-check && \
	{ { nice -n 10 $(MAKE) --no-print-directory lint && \
	    nice -n 10 $(MAKE) --no-print-directory unit && nice -n 10 $(MAKE) --no-print-directory sanity && \
	    nice -n 10 $(MAKE) --no-print-directory matrix MATRIX=$(VENV_MIN) MATRIX_DONE=$(VENV); \
	    mrc=$$?; echo "make test: lint, unit tests, sanity and the matrix done at +$$(( $$(date +%s) - start )) s"; exit $$mrc; \
	  } > .cache/matrix-run.log 2>&1 & mpid=$$!; \
	  echo "make test: lint, unit tests, sanity and the version matrix run alongside molecule, at a lower CPU priority (log: .cache/matrix-run.log); molecule starts at +$$(( $$(date +%s) - start )) s"; } && \
	$(MAKE) --no-print-directory molecule || rc=$$?; \
	echo "make test: molecule done at +$$(( $$(date +%s) - start )) s"; \
	if [ -n "$$mpid" ]; then wait $$mpid || rc=$$?; cat .cache/matrix-run.log; fi; \
	if [ -s .cache/matrix.txt ]; then cat .cache/matrix.txt; fi; \
	for r in .cache/testinfra-*.txt; do [ -s "$$r" ] || continue; \
	  if [ $$rc -ne 0 ]; then echo "== $$r: failed tests (the whole report is in the molecule output above)"; \
	    grep -E '^(FAILED|ERROR) ' "$$r" | cut -c1-400 | head -20; fi; tail -n 1 "$$r"; done; \
	echo "make test: $$( [ $$rc -eq 0 ] && echo PASSED || echo FAILED ) in $$(( $$(date +%s) - start )) s"; \
	exit $$rc

bench: venv images ## Benchmark on simulated hosts (not part of test): BENCH_ARGS="--reps 3 --sizes 1,3,5 --sections rerun,peers"
	python3 scripts/bench.py $(BENCH_ARGS)

collection: venv ## Build the collection tarball into dist/ (what AWX/Galaxy install)
	mkdir -p dist
	ansible-galaxy collection build --force --output-path dist collections/ansible_collections/cslr/platform

ee-context: collection ## AWX execution environment: build context in context/ (then: ansible-builder build)
	ansible-builder create -f execution-environment.yml --context context --output-filename Containerfile

clean: ## Remove the venv and caches (not images: scripts/images.sh clean)
	rm -rf $(VENV) $(VENV_MIN) .pytest_cache dist context .cache/matrix*
