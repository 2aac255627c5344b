# mailfleet.outlook — developer and CI entry points.  `make help` lists the targets.
#
# `make test` on a fresh clone: installs Debian packages (root), builds .venv from requirements/,
# links the collection into .build/, then runs every check in order and stops at the first failure.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-print-directory

PYTHON      ?= /usr/bin/python3
VENV        := $(CURDIR)/.venv
VBIN        := $(VENV)/bin
BUILD       := $(CURDIR)/.build
COLLECTIONS := $(BUILD)
COLL_LINK   := $(BUILD)/ansible_collections/mailfleet/outlook
REQS        := $(sort $(wildcard requirements/*.txt))
VENV_STAMP  := $(VENV)/.mailfleet-installed
PYTEST_ARGS ?=

# Everything below runs the tools of .venv, against the collection linked in .build/.
export PATH := $(VBIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_NOCOLOR := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_INPUT := 1
export DEBIAN_FRONTEND := noninteractive

# Order matters: `make test` runs these one after the other and stops at the first failure.
TEST_STEPS  := deps deps-check venv collection unit docs-check changelog-lint lint sanity build integration \
               lint-clone unit-matrix sanity-artifacts importer docs-site compat-2.16
# `make check`: the fast part (no apt, no integration), worth running before landing on main.
CHECK_STEPS := venv collection unit docs-check changelog-lint lint sanity

# Every supported ansible-core: 2.19 is .venv (requirements/dev.txt); the others have their own venv under .venvs/
# (requirements/ansible-core/2.X.txt + constraints-2.X.txt, scripts/tool-venv.sh).
CORE_VERSIONS    := 2.16 2.17 2.18 2.19
CORE_OLD         := $(filter-out 2.19,$(CORE_VERSIONS))

.PHONY: help test check deps deps-check venv collection unit sanity lint integration docs-check changelog-lint \
        build demo clean distclean role-readmes release \
        unit-matrix sanity-artifacts importer docs-site docsite-guides lint-clone

help: ## list the targets
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) \
	  | sed -E 's/:.*## /\t/; s/\$$\(TEST_STEPS\)/$(TEST_STEPS)/; s/\$$\(CHECK_STEPS\)/$(CHECK_STEPS)/' | expand -t 18

# $(call run_steps,name,steps): each step as `make <step>`, timed; stop at the first failure; summary.
define run_steps
	@summary=(); t0=$$(date +%s); \
	for step in $(2); do \
	  echo "=== make $$step"; s=$$(date +%s); \
	  if ! $(MAKE) $$step; then \
	    summary+=("$$step FAILED after $$(( $$(date +%s) - s ))s"); \
	    printf '=== %s\n' "$${summary[@]}"; echo "make $(1): FAILED in step '$$step'"; exit 1; \
	  fi; \
	  summary+=("$$step ok $$(( $$(date +%s) - s ))s"); \
	done; \
	printf '=== %s\n' "$${summary[@]}"; echo "make $(1): all steps passed in $$(( $$(date +%s) - t0 ))s"
endef

test: ## everything CI runs: $(TEST_STEPS)
	$(call run_steps,test,$(TEST_STEPS))

check: ## the fast checks to run before landing: $(CHECK_STEPS)
	$(call run_steps,check,$(CHECK_STEPS))

deps: ## install the Debian packages of scripts/apt-packages.txt (root; no-op when installed), prove each capability
	@bash scripts/bootstrap-apt.sh scripts/apt-packages.txt
	@/usr/bin/python3 scripts/deps_check.py capabilities

deps-check: ## every package behind a capability is listed or a Depends of a listed one (no hidden hand installs)
	@/usr/bin/python3 scripts/deps_check.py contract

venv: $(VENV_STAMP) ## create .venv from requirements/*.txt (re-run only when they change)

$(VENV_STAMP): $(REQS)
	@if [ ! -x $(VBIN)/python ]; then \
	  $(PYTHON) -c 'import ensurepip' 2>/dev/null || { echo "venv: $(PYTHON) lacks ensurepip/venv: run 'make deps' (python3-venv)" >&2; exit 1; }; \
	  $(PYTHON) -m venv $(VENV); \
	fi
	$(VBIN)/python -m pip install -q -r requirements/dev.txt -c requirements/constraints.txt
	@touch $@

collection: ## link the checkout as .build/ansible_collections/mailfleet/outlook
	@mkdir -p $(dir $(COLL_LINK))
	@ln -sfn $(CURDIR) $(COLL_LINK)
	@echo "collection: $(COLL_LINK) -> $(CURDIR) (ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS))"

unit: venv collection ## pytest tests/unit
	@bash scripts/pytest-dir.sh tests/unit $(PYTEST_ARGS)

integration: venv collection ## pytest tests/integration (tests start the services they need)
	@bash scripts/pytest-dir.sh tests/integration $(PYTEST_ARGS)

sanity: venv ## ansible-test sanity on a copy of the tracked files (.build/sanity)
	@bash scripts/sanity.sh

lint: venv collection ## ansible-lint --profile production over roles/ and playbooks/
	@bash scripts/lint.sh

docs-check: venv collection ## ansible-doc prints every plugin and role of the collection; role READMEs are current
	@python scripts/docs_check.py $(COLLECTIONS)
	@python scripts/role_readmes.py --check

role-readmes: venv ## regenerate roles/*/README.md from their meta/argument_specs.yml
	@python scripts/role_readmes.py

changelog-lint: venv ## antsibull-changelog lint
	antsibull-changelog lint

lint-clone: venv ## ansible-lint --profile production at the root of a plain copy of the repository, no environment
	@bash scripts/lint-clone.sh

unit-matrix: $(addprefix unit-,$(CORE_OLD)) ## tests/unit with each older ansible-core (2.19 is `make unit`)

unit-%: collection ## tests/unit with ansible-core 2.X in .venvs/ansible-core-2.X, e.g. make unit-2.16
	@bash scripts/unit-core.sh $* $(PYTEST_ARGS)

sanity-artifacts: ## ansible-test sanity on the installed tarball of `make build`, for every supported ansible-core
	@for v in $(CORE_VERSIONS); do echo "=== sanity-artifact-$$v"; bash scripts/sanity-artifact.sh $$v; done

sanity-artifact-%: ## ansible-test sanity with ansible-core 2.X on the tarball in .build/dist (make build first)
	@bash scripts/sanity-artifact.sh $*

importer: ## galaxy-importer on the tarball of `make build` with Galaxy's and Automation Hub's settings: 0 errors, 0 warnings
	@bash scripts/galaxy-importer.sh

docs-site: collection ## the antsibull-docs site of the collection, offline, warnings are errors (.build/docs-site)
	@bash scripts/docs-site.sh

docsite-guides: ## regenerate docs/docsite/ (the guides of docs/*.md as antsibull-docs extra docs)
	@PATH="$$(bash scripts/tool-venv.sh docs requirements/docs/requirements.txt requirements/docs/constraints.txt):$$PATH" \
	  python scripts/docsite_guides.py

compat-%: collection ## the lookup, mail_config into a root and smtp_check against the lab with ansible-core 2.X
	@bash scripts/compat-core.sh $* $(PYTEST_ARGS)

release: venv collection ## cut or re-cut a release: make release VERSION=X.Y.Z [DATE=YYYY-MM-DD] (re-runnable)
	@test -n "$(VERSION)" || { echo "release: give VERSION=X.Y.Z (the current one re-cuts it)" >&2; exit 2; }
	@bash scripts/release.sh $(VERSION) $(DATE)

build: venv ## ansible-galaxy collection build, install the tarball in .build/, ansible-doc from there
	@bash scripts/build-check.sh

demo: ## the demo (see README.md)
	@bash scripts/test-lock.sh bash scripts/demo.sh

clean: ## remove .build/ and tests/output/ (keeps .venv)
	rm -rf $(BUILD) tests/output

distclean: clean ## also remove .venv and .venvs/
	rm -rf $(VENV) .venvs
