"""The golden-reward study of embedding-based reward models (arXiv 2502.04357).

Arrays of shape (prompts, responses, dim) with one golden reward per response: the authors'
released files (`golden.load_golden_files`) or a synthetic testbed with a known nonlinear
golden reward (`synthetic.synthetic_testbed`, labelled synthetic wherever it appears).
Simulated annotators label pairs with Bradley-Terry noise (`annotate`: a number of pairs over
the prompts, or the reference code's distinct pairs per prompt), heads and ensembles train on
the labelled pairs (`fit`, the same `EmbeddingRM` as `method=embedding`, members on bootstrap
resamples or seeded 80% splits), and best-of-N golden reward, Spearman correlation and pairwise
accuracy score them (`metrics`).

    python -m rm_lab.embedding_study                                  # quick synthetic run
    python -m rm_lab.embedding_study experiment=embedding_case_study  # the ensemble case study
    python -m rm_lab.embedding_study experiment=embedding_paper data.path=DIR   # the paper's protocol on files
"""
