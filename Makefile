# The two commands of README.md. Each installs the project into .venv on first use.
PYTHON ?= python3
VENV := .venv
MODEL ?= .cache/models/b4-untrained
DEMO_OUT := out/demo

.PHONY: demo test lint

$(VENV)/installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip "setuptools<81" wheel
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $@

# Without network access the TF-Hub module cannot be fetched: export the real B4 architecture
# with untrained weights once, and say so. With network access: make demo MODEL=<TF-Hub URL>.
.cache/models/b4-untrained: | $(VENV)/installed
	$(VENV)/bin/python -m pipeline.export_model --out $@ --weights none

demo: $(VENV)/installed $(if $(findstring ://,$(MODEL)),,$(MODEL))
	$(VENV)/bin/python -m pipeline.run --input 'samples/images/*' --output $(DEMO_OUT) \
		--model_handle $(MODEL) --overwrite
	@echo "Outputs in $(DEMO_OUT):" && ls $(DEMO_OUT)

test: $(VENV)/installed
	$(VENV)/bin/python -m pytest

lint: $(VENV)/installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
