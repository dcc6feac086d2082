# Every target sets itself up: a fresh clone needs only `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint redis clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,nats,metrics]'
	touch $(STAMP)

# redis-server is a system service used by the Redis ledger tests and benchmarks.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null; }

demo: $(STAMP)
	$(VENV)/bin/gateway demo $(ARGS)

# pytest exit code 5 means "no tests ran": that is a failure here.
test: $(STAMP) redis
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: $(STAMP) redis
	$(PY) -m pip install --quiet 'ccxt>=4.3' 'uvloop>=0.18'
	$(PY) -m benchmarks.run $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check gateway venues reconcile risk tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
