# Two commands do all the set-up from a fresh clone:
#   make demo   build the demo catalogue and serve it on http://127.0.0.1:8000
#   make test   install what the tests need and run the whole test suite
SHELL := /bin/bash
VENV  ?= .venv
CSW_VENV ?= .venv-csw
PY     = $(VENV)/bin/python
HOST  ?= 127.0.0.1
PORT  ?= 8000

.PHONY: demo serve test venv system-deps test-assets bench clean

# axe-core, injected into the portal's pages by the accessibility browser test (tests/test_browser_portal.py):
# fetched from the npm registry with its integrity checked by npm, kept out of git (a test-only asset).
AXE_VERSION ?= 4.14.1
AXE = tests/assets/axe-core-$(AXE_VERSION)/axe.min.js

$(VENV)/.installed: pyproject.toml
	@set -e; py="$$(.ci/find-python312)"; echo "using $$py"; \
	  if [ ! -x "$(PY)" ]; then "$$py" -m venv "$(VENV)"; fi; \
	  "$(PY)" -m pip install -q --upgrade pip; \
	  "$(PY)" -m pip install -q -e '.[test]'; \
	  touch "$@"

# pycsw 2.6.2 runs in its own environment and process (its pins clash with pygeoapi's: docs/architecture.md)
$(CSW_VENV)/.installed: ogc/csw/requirements.txt
	@set -e; py="$$(.ci/find-python312)"; \
	  if [ ! -x "$(CSW_VENV)/bin/python" ]; then "$$py" -m venv "$(CSW_VENV)"; fi; \
	  "$(CSW_VENV)/bin/python" -m pip install -q -r ogc/csw/requirements.txt; \
	  touch "$@"

venv: $(VENV)/.installed $(CSW_VENV)/.installed

system-deps:
	@.ci/system-deps

$(AXE):
	@set -e; tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	  (cd "$$tmp" && npm pack --silent "axe-core@$(AXE_VERSION)" >/dev/null && tar -xzf axe-core-$(AXE_VERSION).tgz); \
	  mkdir -p "$(dir $(AXE))"; cp "$$tmp/package/axe.min.js" "$$tmp/package/LICENSE" "$(dir $(AXE))"; \
	  echo "fetched axe-core $(AXE_VERSION) into $(dir $(AXE))"

test-assets: $(AXE)

demo: venv
	$(VENV)/bin/wodp demo --host $(HOST) --port $(PORT)

serve: venv
	$(VENV)/bin/wodp serve --host $(HOST) --port $(PORT)

test: system-deps venv test-assets
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	@.ci/system-deps bench
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(CSW_VENV) var .pytest_cache
