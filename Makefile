# sessapp: `make run` serves the app on SQLite; `make test` runs every test;
# `make mutation` scores the tests against mutants of the guard modules.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test test-slow screenshots lint format install install-testing initdb clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: setup.cfg setup.py pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-testing: setup.cfg setup.py pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[testing]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-testing: $(VENV)/.installed-testing

initdb: install
	$(BIN)/sessapp-initdb development.ini

## Serve http://localhost:6543 on the embedded SQLite database.
run: initdb
	$(BIN)/pserve development.ini

## Lint, then every test: SQLite always, PostgreSQL and MariaDB when reachable.
test: install-testing
	$(BIN)/ruff check sessapp tests migrations bench
	$(BIN)/pytest $(PYTEST_ARGS)

## The slow statistical tests as well.
test-slow: install-testing
	$(BIN)/pytest --runslow $(PYTEST_ARGS)

## Regenerate docs/*.png from the browser tests (needs chromium on the PATH).
screenshots: install-testing
	SESSAPP_SCREENSHOTS=docs $(BIN)/pytest tests/test_browser.py -k "tour or totp_walk"

## Catalogues (README, "Languages"): extract every marked message from Python and the
## templates into sessapp/locale/sessapp.pot, merge it into each language's .po (new
## messages untranslated, changed ones fuzzy), compile the .mo files the app reads.
## Then write the missing translations in the .po files and run it again; the tests
## fail while any message is untranslated, fuzzy, or its .mo is stale.
translations: install
	$(BIN)/pybabel -q extract -F babel.cfg --add-location=file -c Translators: \
	  --project sessapp --version 0.1.0 --copyright-holder sessapp \
	  -o sessapp/locale/sessapp.pot .
	$(BIN)/pybabel update -i sessapp/locale/sessapp.pot -d sessapp/locale -D sessapp \
	  --ignore-obsolete
	$(BIN)/pybabel compile -d sessapp/locale -D sessapp --statistics

lint: install-testing
	$(BIN)/ruff check sessapp tests migrations bench

format: install-testing
	$(BIN)/ruff format sessapp tests migrations bench

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache sessapp.sqlite*

.PHONY: bench install-bench install-wrk
BENCH_ARGS ?=

$(VENV)/.installed-bench: setup.cfg setup.py pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $(VENV)/.installed $@

install-bench: $(VENV)/.installed-bench

# wrk from Debian's packages, installed when missing and apt-get may run (root);
# otherwise the bench falls back to its Python client, which shares the CPU
# with the server and measures far lower.
install-wrk:
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -qq wrk >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }; }; } || \
	  echo "wrk is not installed (apt-get install wrk): the bench uses its Python client"

## Benchmark against a bare Pyramid view on every reachable database (about 8
## minutes; uses wrk, installing it when it can); prints the tables, redraws
## docs/performance.png and docs/scaling.png (process scaling, PostgreSQL).
bench: install-bench install-wrk
	$(BIN)/python -m bench.run --plot docs/performance.png --scaling-plot docs/scaling.png $(BENCH_ARGS)

.PHONY: load
LOAD_ARGS ?= --databases sqlite,postgresql,mysql --clients 64 --seconds 60

## Reliability under load (bench/reliability/): 64 simulated browsers for 60 s on
## each database through pserve, with same-session and logout races; fails if a
## stored value was lost, a signed-out cookie answered as signed in, or any 5xx.
load: install-testing
	$(BIN)/python -m bench.reliability $(LOAD_ARGS)

.PHONY: mutation install-mutation
# Narrow a run to some mutants by name, e.g. MUTANTS='sessapp.sessions.store.*'.
MUTANTS ?=

$(VENV)/.installed-mutation: setup.cfg setup.py pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[testing,mutation]'
	touch $(VENV)/.installed $(VENV)/.installed-testing $@

install-mutation: $(VENV)/.installed-mutation

## Mutation testing (docs/testing.md): mutmut mutates the modules listed in setup.cfg's
## [mutmut] only_mutate, runs the SQLite tests that reach each mutant, prints the score
## and every mutant no test killed. From scratch each time (mutants/ is rebuilt).
mutation: install-mutation
	rm -rf mutants
	$(BIN)/mutmut run $(MUTANTS)
	@$(BIN)/mutmut results --all true | awk -F': ' ' \
	  { status[$$2]++; if ($$2 != "not checked") total++ } \
	  $$2 == "survived" || $$2 == "no tests" || $$2 == "suspicious" { print } \
	  END { printf "mutation score: %d killed / %d mutants (%d survived, %d without tests, %d timed out)\n", \
	        status["killed"], total, status["survived"], status["no tests"], status["timeout"] }'
