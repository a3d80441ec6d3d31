# napari-cathode: two commands do everything on a fresh machine.
#   make demo   install what is missing, then open napari with the plugin and the real sample
#               (headless demo when there is no display)
#   make test   install what is missing, then ruff, import contracts, npe2 validate and pytest under Xvfb
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export XDG_RUNTIME_DIR ?= /tmp/napari-cathode-runtime-$(shell id -u)

.PHONY: setup demo test lint clean

setup:
	@bash scripts/setup.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/npe2 validate napari-cathode

test: setup lint
	@mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/python -m pytest $(PYTEST_ARGS)

demo: setup
	@mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	@if [ -n "$$DISPLAY" ]; then \
		$(BIN)/python -m napari_cathode._napari.demo; \
	else \
		$(BIN)/napari-cathode demo; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
