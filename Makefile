# Two commands on a fresh machine (Python 3.11, no GPU, no webcam, no display):
#   make demo   installs everything into .venv and runs the live loop on the embedded sample
#   make test   installs everything into .venv (as root also Debian's xvfb and chromium) and runs the tests
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: install lock display demo test bench default-model default-swap default-enhancer clean

# Installs exactly the versions in requirements.lock, each checked against its hash, then
# this project itself without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet --require-hashes -r requirements.lock
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(VENV)/bin/reenact setup
	touch $(STAMP)

install: $(STAMP)

# After a change to the dependencies in pyproject.toml: pins what they need now, keeping
# every pin that still fits (`make lock UPGRADE=--upgrade` moves all to the newest), for
# Linux x86_64 and Python 3.11, the machines this project is tested on. Then `make test`.
UV_VERSION := 0.13.9
lock:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip compile pyproject.toml --extra train --extra test --extra eval --generate-hashes --quiet \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" \
	  $(UPGRADE) --output-file requirements.lock

demo: install
	$(VENV)/bin/reenact live --source sample --output out/demo.mp4 --stats out/demo_stats.json

# Xvfb gives the one test of a real OpenCV window a display, and chromium the studio's page a
# real browser. They are test-only system packages, so where they cannot be installed (not
# root, no apt) those tests skip with the reason.
display:
	@{ command -v Xvfb >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -qq --no-install-recommends xvfb chromium || \
	    { apt-get update -qq && apt-get install -y -qq --no-install-recommends xvfb chromium; }; } >/dev/null 2>&1; } || \
	  echo "note: Xvfb or chromium is not installed (apt-get install -y xvfb chromium); their tests will skip"

test: install display
	$(VENV)/bin/python -m pytest -q

bench: install
	$(VENV)/bin/reenact bench --source ../shared/data/drivers/expressive_34s.mp4 --frames 600 --json out/bench.json --plot out/bench.png

# Reproduces the shipped generators from GRID speaker s1 beside the project (about 45 minutes
# each on a 2-core CPU), and measures them on every shared driver, re-enacting and swapping
# (the default swap is by re-enactment); see models/MODEL_CARD.md.
S1_CREDIT := Trained on GRID audio-visual corpus speaker s1 (Cooke et al. 2006), CC BY 4.0; frames cropped and resized.
default-model: install
	$(VENV)/bin/reenact prepare ../shared/data/target_s1 --out data/s1 --every 4 --holdout-clips 0.1 --credit "$(S1_CREDIT)"
	$(VENV)/bin/reenact train data/s1 --out runs/s1_w24 --init none --appearance --width 24 --steps 2400 --mouth-from 1800
	$(VENV)/bin/reenact export runs/s1_w24 --out models/default_generator.tflite --quant int8
	$(VENV)/bin/reenact train data/s1 --out runs/s1_w16 --init none --appearance --width 16 --steps 2400 --mouth-from 1800
	$(VENV)/bin/reenact export runs/s1_w16 --out models/fast_generator.tflite --quant int8
	$(VENV)/bin/reenact eval --data data/s1 --json out/default_eval.json --grid docs/validation_grid.jpg
	$(VENV)/bin/python -m benchmarks.drivers --model models/default_generator.tflite --reference data/s1 --out out/drivers
	$(VENV)/bin/python -m benchmarks.drivers --mode swap --model models/default_generator.tflite --reference data/s1 --out out/drivers_reenact_swap

# Reproduces the shipped face-swap autoencoder (`--model autoencoder`; the default swap is by
# re-enactment, with default-model's generator): B = GRID speaker s1 (data/s1, made by default-model),
# A = faces free to use: four other GRID speakers, GRID speaker s2 and the sample driver
# (about 60 minutes on a 2-core CPU); see models/MODEL_CARD.md.
SWAP_A_CREDIT := GRID audio-visual corpus speakers lbbc2a, lwbsza, sbia1a, sbwe5n and s2 (Cooke et al. 2006), CC BY 4.0; the sample driver (NASA astronaut portrait, public domain)
default-swap: install
	$(VENV)/bin/reenact prepare ../shared/data/faces ../shared/data/target sample --out data/swap_a --size 128 --credit "$(SWAP_A_CREDIT)"
	$(VENV)/bin/reenact train-swap data/swap_a data/s1 --out runs/swap
	$(VENV)/bin/reenact export runs/swap --out models/default_swap.tflite --quant int8
	$(VENV)/bin/python -m benchmarks.drivers --mode swap --model models/default_swap.tflite --reference data/s1 --source-side data/swap_a --out out/drivers_swap

# Reproduces the shipped face enhancer from the sharp portraits beside the project (about 15
# minutes on a 2-core CPU; 12 of the 117 people held out, whole); see models/MODEL_CARD.md.
default-enhancer: install
	$(VENV)/bin/reenact train-enhancer ../shared/data/hd_faces --out runs/enhancer
	$(VENV)/bin/reenact export runs/enhancer --out models/default_enhancer.tflite --quant int8
	$(VENV)/bin/reenact eval --enhancer models/default_enhancer.tflite --data ../shared/data/hd_faces --json out/enhancer_eval.json

clean:
	rm -rf out .pytest_cache
