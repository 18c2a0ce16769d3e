# Two commands on a fresh machine (Python 3.11, no GPU, no webcam, no display):
#   make demo   installs everything into .venv and runs the live loop on the embedded sample
#   make test   installs everything into .venv (as root also Debian's xvfb) and runs the tests
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: install display demo test bench default-model clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[train,test]'
	$(VENV)/bin/reenact setup
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/reenact live --source sample --output out/demo.mp4 --stats out/demo_stats.json

# Xvfb gives the one test of a real OpenCV window a display. It is a test-only system
# package, so where it cannot be installed (not root, no apt) that test skips with the reason.
display:
	@command -v Xvfb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -qq --no-install-recommends xvfb || \
	    { apt-get update -qq && apt-get install -y -qq --no-install-recommends xvfb; }; } >/dev/null 2>&1; } || \
	  echo "note: Xvfb is not installed (apt-get install -y xvfb); the real-window test will skip"

test: install display
	$(VENV)/bin/python -m pytest -q

bench: install
	$(VENV)/bin/reenact bench --source ../shared/data/drivers/expressive_34s.mp4 --frames 600 --json out/bench.json --plot out/bench.png

# Reproduces the shipped generator from the GRID clips beside the project (about 30-40
# minutes on a 2-core CPU); see models/MODEL_CARD.md.
default-model: install
	$(VENV)/bin/reenact prepare ../shared/data/target --out data/grid --credit "GRID corpus, Cooke et al. 2006, CC BY 4.0"
	$(VENV)/bin/reenact train data/grid --out runs/default --size 256 --width 16 --upsample separable --batch 4 --steps 1500 --mouth-weight 1 --mouth-from 1100
	$(VENV)/bin/reenact export runs/default --out models/default_generator.tflite --quant int8
	$(VENV)/bin/reenact eval --data data/grid --json out/default_eval.json --grid docs/validation_grid.jpg
	$(VENV)/bin/reenact eval --driver ../shared/data/drivers/expressions_7s.mp4 --json out/default_driver_eval.json

clean:
	rm -rf out .pytest_cache
