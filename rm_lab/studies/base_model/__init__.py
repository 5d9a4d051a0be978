"""Base-model choice: which public benchmark scores predict reward-model quality.

    python -m rm_lab.analysis --runs multirun/base_model_sweep --benchmarks benchmarks.csv
    make base-model-report        (offline: a small sweep + the synthetic benchmark table)

Inputs: sweep results (read through rm_lab.rundir.results) and a benchmark table (CSV). Outputs
in reports/: correlations with p-values, top-k coverage, a cross-validated Elastic Net, the
selection gain within size groups, PNG plots. See rm_lab/studies/base_model/report.py. Post-training
stages against their base model: `python -m rm_lab.analysis.stages` (rm_lab/studies/base_model/stages.py).
"""
