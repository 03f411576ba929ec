# Overture's tasks. `make demo` and `make test` are the two commands a fresh machine needs.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
CLUSTER_DIR ?= /tmp/overture-cluster

.PHONY: help install ui ui-deps lint chart unit e2e test soak crds crds-check cluster-deps cluster-up cluster-down demo bench bench-scale clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

UI_STATIC := operator/overture/ui/static/index.html
UI_SOURCES := $(shell find ui/src ui/index.html ui/vite.config.ts ui/tsconfig.json ui/package-lock.json -type f 2>/dev/null)

install: $(VENV)/.installed $(VENV)/.compiled-opt2 $(UI_STATIC) ## Python virtualenv with Overture and its dev tools, and the UI's files

# `overture operator` runs as python -OO where that bytecode is installed (process_memory.without_docstrings),
# as in the image: e2e tests and benchmarks start the operator as the product does.
$(VENV)/.compiled-opt2: $(VENV)/.installed
	$(PY) -m compileall -q -j 0 -o 2 $(VENV)/lib operator/overture > /dev/null
	touch $@

# The UI's files are built from the committed lockfile (npm ci), not committed: they ship inside the
# Python package (overture/ui/static), so a wheel built after this step has the UI.
ui/node_modules/.installed: ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	touch $@

ui-deps: ui/node_modules/.installed

$(UI_STATIC): ui/node_modules/.installed $(UI_SOURCES)
	cd ui && npm run build --silent

ui: $(UI_STATIC) ## build the web UI into the Python package (npm ci + vite build)

lint: install chart ## ruff, mypy, the import-layer contracts and the Helm chart
	$(BIN)/ruff check operator tests
	$(BIN)/ruff format --check operator tests
	$(BIN)/mypy
	$(BIN)/lint-imports
	cd wrapper && test -z "$$(gofmt -l .)" || { gofmt -l .; echo "wrapper/: run gofmt -w"; exit 1; }
	cd wrapper && go vet ./...
	cd ui && npx tsc --noEmit

chart: install ## helm lint + helm template of charts/overture in both RBAC modes (helm built by hack/tools.sh)
	PYTHON=$(PY) bash hack/chart-check.sh

unit: install ## unit tests: pure logic, no cluster (and the Go wrapper's, against a fake store; the UI's with vitest)
	$(BIN)/pytest tests/unit -q
	cd wrapper && go test -count=1 ./...
	cd ui && npx vitest run

cluster-deps: ## Debian packages and cached Kubernetes binaries for the local cluster
	bash hack/cluster/install-deps.sh
	bash hack/cluster/build.sh

cluster-up: cluster-deps ## start the local cluster (control plane and a node)
	bash hack/cluster/up.sh

cluster-down: ## stop the local cluster
	bash hack/cluster/down.sh

e2e: install cluster-deps ## e2e tests against a real kube-apiserver (local cluster unless KUBECONFIG is set); the UI's in chromium
	$(BIN)/pytest tests/e2e -q -m e2e

test: lint unit e2e ## everything CI runs

RELIABILITY := tests/e2e/test_chaos.py tests/e2e/test_fuzz.py tests/e2e/test_replicas.py tests/e2e/test_tenants.py tests/e2e/test_secrets.py tests/e2e/test_limits.py
soak: install cluster-deps ## the reliability tests, long: 100 runs under 12 SIGKILLs, 500+ fuzz cases, 1,000 iterations (needs a real and a kwok node)
	OVERTURE_SOAK=1 OVERTURE_NODE=$${OVERTURE_NODE:-both} $(BIN)/pytest $(RELIABILITY) -m e2e -s -ra

crds: install ## regenerate crds/ from the models (and the chart's copy)
	$(BIN)/overture crds -o crds
	$(BIN)/overture schema -o schemas/flow.json
	$(BIN)/overture schema --templates -o schemas/tasktemplate.json
	rm -f charts/overture/crds/*.yaml && cp crds/*.yaml charts/overture/crds/

demo: install cluster-up ## local cluster, CRDs, operator, an example flow run to SUCCESS
	bash hack/demo.sh

bench: install cluster-up ## benchmarks/ against the local cluster (BENCH_ARGS=--quick: a short run; --argo: add Overture vs Argo Workflows)
	$(PY) -m benchmarks.run $(BENCH_ARGS)

bench-scale: install cluster-deps ## issue 16 in one run, one report: Overture vs Argo side by side, engine scaling, 10,000-item each, throughput N=1,000 x1/x2 (~1 h; BENCH_ARGS=--quick)
	bash hack/cluster/up.sh --both
	$(PY) -m benchmarks.scale $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache ui/node_modules operator/overture/ui/static
