# The two commands of the README:  `make run` (train, publish, serve)  and  `make test`.
# Both set up .venv from scratch when it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STORE  ?= store
CONFIG ?= configs/main.toml
export MGQE_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: run test test-slow test-docker lint sysdeps

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: the CPU build of exactly this version (a range pulls a multi-GB CUDA build)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[train,serve,dev]'
	touch $@

# System tools some tests call (docker-compose v1 validates docker-compose.yml). Installed only when missing
# and only as root (CI); elsewhere the tests that need them say what to install.
sysdeps:
	@command -v docker-compose >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null) || true; }

run: $(VENV)/.installed
	$(BIN)/mgqe-train pipeline --config $(CONFIG) --store $(STORE)
	$(BIN)/mgqe-serve --store $(STORE)

# mypy over the package as it is imported (mgqe.proto, mgqe.trainer, mgqe.server) plus bench/. The editable
# install maps mgqe.trainer -> trainer/ through an import hook mypy cannot follow (every `from mgqe.x import y`
# would be an unchecked Any), so mypy reads the same mapping from a link tree under build/ (git-ignored).
MYPY_TREE := build/mypy-tree
# bench/ scripts are checked under their bare names, as they import each other when run as `python bench/X.py`
MYPY_BENCH := $(patsubst bench/%.py,-m %,$(wildcard bench/*.py))
# tests/: each folder on its own, as its modules import their neighbours by bare name (pytest's rootdir
# import) and two folders have a conftest.py, which one run would see as one module twice

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	rm -rf $(MYPY_TREE) && mkdir -p $(MYPY_TREE)/mgqe
	ln -s ../../../mgqe/__init__.py $(MYPY_TREE)/mgqe/__init__.py
	for p in proto trainer server; do ln -s ../../../$$p $(MYPY_TREE)/mgqe/$$p; done
	MYPYPATH=$(MYPY_TREE):bench $(BIN)/mypy -p mgqe $(MYPY_BENCH)
	for d in $(wildcard tests/*/); do MYPYPATH=$(MYPY_TREE):bench:tests/server:$$d $(BIN)/mypy $$d || exit 1; done

test: $(VENV)/.installed sysdeps lint
	$(BIN)/pytest -q

test-slow: $(VENV)/.installed
	$(BIN)/pytest -q -m slow

# Starts a local engine first where none runs (needs root, Debian's docker.io + debootstrap; see docs/deploy.md).
test-docker: $(VENV)/.installed sysdeps
	eval "$$(docker/dev-engine.sh)" && $(BIN)/pytest -q -m docker
