PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "newsbot needs Python 3.11 ($(PYTHON) not found)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch is pinned in the same command as the rest so pip keeps the CPU build.
	$(BIN)/pip install --quiet torch==2.13.0 -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/python -m bot.run

# Three workers on two cores: much of the suite waits (on sockets, child processes and the
# slow test embedder), and a third worker fills those waits (two take 66-77 s, three 71 s).
# Each test file runs in one worker, so module fixtures are built once. One torch thread per
# worker: workers each spinning two threads on two cores cost about 10 s.
# `make test PYTEST_ARGS=` runs them in one process.
PYTEST_ARGS ?= -n 3 --dist loadfile
test: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/realtimeqa.py
	$(BIN)/python bench/answers.py
	$(BIN)/python bench/news_questions.py
	$(BIN)/python bench/answer_losses.py
	$(BIN)/python bench/summaries.py
	$(BIN)/python bench/fragments.py
	$(BIN)/python bench/index_bbc.py
	$(BIN)/python bench/index_phases.py
	$(BIN)/python bench/splitter.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/backends.py
	$(BIN)/python bench/shortlist.py
	$(BIN)/python bench/load.py --questions 500 --concurrency 1 50

lint: setup
	$(BIN)/ruff check index bot tests bench train
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data
