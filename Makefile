# The README's two commands: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
# torch from this machine's disk where it lies there; override for other platforms (e.g. a CPU build).
TORCH ?= torch==2.14.1 torchvision==0.29.1

BIN := $(VENV)/bin

# setuptools prints a warning block for every editable install (which works as meant): PYTHONWARNINGS keeps
# it off a newcomer's first screen.
$(BIN)/nstbatch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

.PHONY: install demo test
install: $(BIN)/nstbatch

demo: install
	$(BIN)/nstbatch run --inputs examples/photos --model starry_night --output out/demo-fast
	$(BIN)/nstbatch run --inputs examples/photos --model universal --style examples/styles/the_scream_munch.jpg --output out/demo-any
	$(BIN)/nstbatch run --inputs examples/photos --style examples/styles/starry_night_vangogh.jpg --output out/demo

# The linter and the import contract (pyproject.toml) first: a wrong-way import fails the build.
test: install
	$(BIN)/ruff check --quiet nstbatch tests benchmarks scripts
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m pytest -q
