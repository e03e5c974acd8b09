# vitdense: `make test` and `make demo` on a fresh Linux machine (Python >= 3.10, no GPU needed).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The registry's CUDA builds of torch + torchvision run on CPU too; the same torch
# the GPU machines use. Override for another CUDA, e.g. TORCH_SPEC="torch==2.5.1 torchvision==0.20.1".
TORCH_SPEC ?= torch==2.11.0 torchvision==0.26.0
MMCV_SPEC ?= mmcv==2.1.0
STAMP := $(VENV)/.vitdense-installed
# the every-size sweeps repeat the per-family checks (same code paths): `make test PYTEST_ARGS=` runs them too
PYTEST_ARGS ?= -m "not sweep"

.PHONY: install test demo lint format clean-demo

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Idempotent: the stamp is rebuilt only when the venv or the requirements change,
# and each step installs only what is missing.
$(STAMP): $(PY) setup.py requirements/runtime.txt requirements/tests.txt requirements/deploy.txt requirements/build.txt
	$(PIP) install -q -r requirements/build.txt
	$(PY) -c "import torch, torchvision; torch.ops.torchvision.nms" 2>/dev/null \
	  || $(PIP) install $(TORCH_SPEC)
	$(PY) -c "import mmcv.ops" 2>/dev/null \
	  || MMCV_WITH_OPS=1 $(PIP) install --no-build-isolation $(MMCV_SPEC)
	$(PY) -c "import mmcv.ops" 2>/dev/null \
	  || MMCV_WITH_OPS=1 $(PIP) install --no-build-isolation --no-cache-dir --force-reinstall --no-deps $(MMCV_SPEC)
	$(PIP) install -q -r requirements/runtime.txt -r requirements/tests.txt -r requirements/deploy.txt
	$(PIP) install -q --no-build-isolation --no-deps -e .
	$(PY) -c "import vitdense, mmdet.models, mmseg.models, mmcv.ops; print('vitdense', vitdense.__version__, 'ready')"
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Mask R-CNN LITv2-S trained from scratch and evaluated on a synthetic COCO-layout set.
DEMO_DATA := data/synthetic_coco
DEMO_CONFIG := configs/demo/mask_rcnn_litv2_s_synthetic.py
DEMO_WORK := work_dirs/demo
demo: $(STAMP)
	$(PY) tools/misc/make_synthetic_data.py coco $(DEMO_DATA) --num-train 64 --num-val 16 --size 256 --skip-existing
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_WORK)
	$(PY) tools/test.py $(DEMO_CONFIG) $$(cat $(DEMO_WORK)/last_checkpoint) --work-dir $(DEMO_WORK) \
	  --show-dir $(DEMO_WORK)/predictions
	$(PY) tools/misc/contact_sheet.py $(DEMO_WORK)/predictions $(DEMO_WORK)/predictions.png

lint:
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
