# Developing devenv itself. `make dev` tries it on the bundled RAGFlow-shaped demo in .demo/
# (git-ignored), created on first use; `devenv makefile` prints targets for a real RAGFlow checkout.

PYTHON ?= python
DEVENV ?= devenv
DEMO ?= .demo

.PHONY: dev dev-down dev-status test bench provision

dev: ## start the demo stack in dev mode and reload on save (Ctrl-C stops watching)
	@[ -f $(DEMO)/docker/docker-compose.yml ] || $(DEVENV) demo $(DEMO)
	$(DEVENV) -C $(DEMO) up

dev-down: ## stop the demo stack (volumes are kept)
	$(DEVENV) -C $(DEMO) down

dev-status: ## the demo stack: services, health, mounts, last reload
	$(DEVENV) -C $(DEMO) status

test: ## the test suite (real-engine tests skip without Docker)
	$(PYTHON) -m pytest -q

bench: ## reload and watcher benchmarks
	$(PYTHON) scripts/bench_reload.py
	$(PYTHON) scripts/bench_watch.py

provision: ## what the real-engine tests need on a bare Debian machine: Docker, compose v2, a base image
	bash scripts/provision.sh
