# logtrial: every target sets itself up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup deps test run nightly lint type bench clean

$(STAMP): pyproject.toml scripts/setup-debian.sh
	bash scripts/setup-debian.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test,dev,fast,tansu]'
	touch $(STAMP)

setup: $(STAMP)

# The project's tests and the suites against the reference broker, then the suites
# against Tansu (its known deviations are strict xfails).
test: $(STAMP)
	$(PY) -m pytest -m "not nightly" $(PYTEST_ARGS)
	$(PY) -m pytest suites -m "not nightly" --target tansu --report-dir reports/tansu $(PYTEST_ARGS)

# The main job: a chaos run on the embedded default cluster, ending in an HTML report.
RUN_ARGS ?= --target reference --nodes 3 --time-limit 60 --nemesis partition,kill --nemesis-interval 10
run: $(STAMP)
	$(VENV)/bin/logtrial run $(RUN_ARGS)

# Long chaos runs: every nemesis, both clients, more hypothesis examples and fuzz frames.
nightly: $(STAMP)
	LOGTRIAL_FUZZ_FRAMES=200000 LOGTRIAL_CHAOS_TIME=120 $(PY) -m pytest -m "nightly or chaos" \
		--hypothesis-profile=nightly $(PYTEST_ARGS)
	LOGTRIAL_CHAOS_TIME=120 $(PY) -m pytest suites/chaos --target tansu --hypothesis-profile=nightly $(PYTEST_ARGS)
	$(VENV)/bin/logtrial run --target reference --time-limit 300 --nemesis kill,pause --client confluent
	$(VENV)/bin/logtrial run --target reference --time-limit 300 --nemesis kill,pause --sub-via subscribe
	$(VENV)/bin/logtrial run --target reference --nodes 3 --replication-factor 3 --time-limit 300 \
		--nemesis partition,kill,pause,loss,slow,reset --retention-ms 60000 --segment-bytes 65536
	$(VENV)/bin/logtrial run --target reference --time-limit 300 --txn --sub-via subscribe \
		--nemesis kill,pause

lint: $(STAMP)
	$(VENV)/bin/ruff check harness reference_broker tests suites benchmarks

type: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/bench_log_checker.py
	$(PY) benchmarks/bench_linearizable.py
	$(PY) benchmarks/bench_report.py
	$(PY) benchmarks/bench_recorder.py
	$(PY) benchmarks/bench_broker_cpu.py
	$(PY) benchmarks/bench_run_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
