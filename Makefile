# Two entry points: `make demo` grades the bundled submissions end to end and
# `make test` runs the kit's tests. Both create .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
# nbgrader starts helper programs such as alembic by name, so the virtual
# environment's bin directory goes first on PATH.
RUN := PATH="$(BIN):$$PATH" MPLBACKEND=Agg

.PHONY: demo test lint release examples clean

$(VENV)/.installed: requirements.txt framework/pyproject.toml grading/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(BIN)/python -m pip install -r requirements-test.txt
	touch $@

demo: $(VENV)/.installed
	$(RUN) $(BIN)/minitorch-course demo

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(RUN) $(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Regenerate release/ from source/ and the bundled submissions from both.
release: $(VENV)/.installed
	$(RUN) $(BIN)/nbgrader generate_assignment activations --force
examples: release
	$(RUN) $(BIN)/python examples/build_examples.py
	$(RUN) $(BIN)/python examples/build_adversarial.py
	$(RUN) $(BIN)/python examples/build_bad_notebooks.py
	$(RUN) $(BIN)/python examples/build_canvas_zip.py

clean:
	rm -rf submitted autograded feedback grading_status reports gradescope gradebook.db grades.csv
