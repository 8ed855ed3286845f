# The two commands of README.md. Each installs the project into $(VENV) on first use, with a
# supported Python (3.11, 3.12 or 3.13): PYTHON=/path/to/python3.X chooses one (tools/ensure-venv).
PYTHON ?=
VENV ?= .venv
MODEL ?= .cache/models/b4-untrained
DEMO_OUT ?= out/demo

.PHONY: demo test lint venv

venv:
	@tools/ensure-venv "$(PYTHON)" $(VENV)

# Without network access the TF-Hub module cannot be fetched: export the real B4 architecture
# with untrained weights once, and say so. With network access: make demo MODEL=<TF-Hub URL>.
.cache/models/b4-untrained: | venv
	$(VENV)/bin/python -m pipeline.export_model --out $@ --weights none

demo: venv $(if $(findstring ://,$(MODEL)),,$(MODEL))
	$(VENV)/bin/python -m pipeline.run --input samples/images --output $(DEMO_OUT) \
		--model_handle $(MODEL) --overwrite
	@echo "Outputs in $(DEMO_OUT):" && ls $(DEMO_OUT)

test: venv
	$(VENV)/bin/python -m pytest

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
