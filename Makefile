# Two commands on a fresh machine (Python 3.11, no GPU, no webcam, no display):
#   make demo   installs everything into .venv and runs the live loop on the embedded sample
#   make test   installs everything into .venv and runs the tests
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[train,test]'
	$(VENV)/bin/python -m models.landmarker_asset
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/reenact live --source sample --output out/demo.mp4 --stats out/demo_stats.json

test: install
	$(VENV)/bin/python -m pytest -q

bench: install
	$(VENV)/bin/reenact bench --source ../shared/data/drivers/expressive_34s.mp4 --frames 600 --json out/bench.json --plot out/bench.png

clean:
	rm -rf out .pytest_cache
