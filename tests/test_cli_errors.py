"""A wrong config option or value given to a command is one line, `PROG: message`, exit status 2
(`rm_lab.cli.config_errors`), as `python -m rm_lab` says it; a flag no command knows is argparse's error."""
from __future__ import annotations

import importlib

import pytest

CASES = [
    ("plan", ["method=nope"], "python -m rm_lab.plan: In 'config': Could not find 'method/nope'"),
    ("plan", ["dataset.batch_size=0"], "python -m rm_lab.plan: dataset.batch_size must be an integer >= 1, got 0"),
    ("param_table", ["method=nope"], "python -m rm_lab.param_table: In 'config': Could not find 'method/nope'"),
    ("inference_compare", ["model=nope"], "python -m rm_lab.inference_compare: In 'config': Could not find 'model/nope'"),
    ("bench", ["method.lr=0", "--no-scoring"], "python -m rm_lab.bench: method.lr must be a finite number > 0, got 0"),
    ("embedding_speed", ["model=nope"], "python -m rm_lab.embedding_study.speed: In 'config': Could not find 'model/nope'"),
    ("embedding_sweep", ["method=nope"], "python -m rm_lab.embedding_study.sweep: In 'config': Could not find 'method/nope'"),
    ("embedding_sweep", ["seed=1"], "python -m rm_lab.embedding_study.sweep: the sweep needs sweep.seeds and sweep.heads: "
                                    "add experiment=embedding_heads"),
]


def before_torch(command: str, argv: list[str], cwd, hydra: bool = False) -> tuple[list[str], str]:
    """rm_lab.cli.<command>'s main on `argv` in a fresh interpreter (`hydra`: a Hydra app, reading
    sys.argv): (["exit", status, whether torch was imported], stderr)."""
    import subprocess
    import sys

    call = f"sys.argv = ['x', *{argv!r}]\n    main()" if hydra else f"main({argv!r})"
    probe = (f"import sys\nfrom rm_lab.cli.{command} import main\n"
             f"try:\n    {call}\nexcept SystemExit as stop:\n    print('exit', stop.code)\n"
             "print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=cwd)
    return proc.stdout.split(), proc.stderr


@pytest.mark.parametrize("command, argv, said", CASES, ids=[f"{c}-{a[0]}" for c, a, _ in CASES])
def test_a_wrong_option_or_value_is_one_line_and_exit_status_2(command, argv, said, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    main = importlib.import_module(f"rm_lab.cli.{command}").main
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == said.split("\n")[0] and "Traceback" not in err


@pytest.mark.parametrize("command", ["plan", "bench", "embedding_speed", "embedding_sweep"])
def test_a_stray_flag_is_an_argparse_error_not_a_config_override(command, capsys):
    main = importlib.import_module(f"rm_lab.cli.{command}").main
    with pytest.raises(SystemExit) as stop:
        main(["--nope"])
    assert stop.value.code == 2
    assert "unrecognized arguments: --nope (config overrides are key=value)" in capsys.readouterr().err


def test_hydra_full_error_keeps_the_traceback(monkeypatch):
    from hydra.errors import HydraException

    from rm_lab.cli.plan import main

    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(HydraException):
        main(["method=nope"])


def test_add_domain_says_a_damaged_run_before_torch_loads(tmp_path):
    (tmp_path / "results.json").write_text("{not json", encoding="utf-8")
    said, err = before_torch("add_domain", [str(tmp_path), "hh_rlhf"], tmp_path)
    assert said == ["exit", "2", "False"], said + [err[-2000:]]
    assert err.startswith("python -m rm_lab.add_domain: ") and "not valid JSON" in err
    assert (tmp_path / "results.json").read_text(encoding="utf-8") == "{not json"  # left as it was


def test_the_runner_says_a_wrong_value_before_torch_loads(tmp_path):
    """`python -m rm_lab seed=abc`: checked before the data is read and the runner's libraries import."""
    said, err = before_torch("train", ["seed=abc", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, hydra=True)
    assert said == ["exit", "2", "False"], said + [err[-2000:]]
    assert "rm_lab: error: seed must be an integer >= 0, got 'abc'" in err
    assert not (tmp_path / "run" / "results.json").exists()  # nothing recorded: the run never started


def test_the_zoo_names_an_unknown_model_and_the_choices(capsys):
    from rm_lab.cli.analysis_zoo import main

    with pytest.raises(SystemExit) as stop:
        main(["qwen2.5-0.5b-instruct", "model=nope"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "python -m rm_lab.analysis.zoo: error: no such model: model=nope; give conf/model names: " in err
    assert "qwen2.5-0.5b-instruct" in err.split("give conf/model names: ")[1] and "Traceback" not in err


@pytest.mark.parametrize("argv, said", [
    (["model=nope"], "python -m rm_lab.cli.bench_data: In 'config': Could not find 'model/nope'"),
    (["dataset.batch_size=0"], "python -m rm_lab.cli.bench_data: dataset.batch_size must be an integer >= 1, got 0"),
    (["--scale", "-1"], "python -m rm_lab.cli.bench_data: error: argument --scale: must be > 0 (a share of the "
                        "paper's sizes), got -1"),
    (["--nope"], "python -m rm_lab.cli.bench_data: error: unrecognized arguments: --nope (config overrides are key=value)"),
], ids=["option", "value", "scale", "flag"])
def test_bench_data_says_a_wrong_option_before_writing_the_paper_size_files(argv, said, capsys, tmp_path, monkeypatch):
    from rm_lab.cli.bench_data import main

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as stop:
        main(["--data", str(tmp_path / "files"), *argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert said in err.splitlines() and "Traceback" not in err
    assert not (tmp_path / "files").exists()  # nothing built


def test_bench_data_says_an_unwritable_folder(capsys, tmp_path):
    from rm_lab.cli.bench_data import main

    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        main(["--data", str(tmp_path / "file" / "files"), "--build-only"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python -m rm_lab.cli.bench_data: cannot write {tmp_path / 'file' / 'files'}: ")
    assert (tmp_path / "file").read_text(encoding="utf-8") == "x"


@pytest.mark.parametrize("argv, said", [
    (["--model", "nope"], "python -m rm_lab.gpu_check: In 'config': Could not find 'model/nope'"),
    (["--steps", "0"], "python -m rm_lab.gpu_check: error: argument --steps: must be an integer >= 1, got '0'"),
], ids=["model", "steps"])
def test_gpu_check_says_a_wrong_option_before_it_measures(argv, said, capsys, monkeypatch):
    import rm_lab.studies.gpu_check as study
    from rm_lab.cli.gpu_check import main

    def measured(*_):
        raise AssertionError("the peak was measured before the options were checked")

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setattr(study, "matmul_peak", measured)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert said in err.splitlines() and "Traceback" not in err


def test_the_embedding_study_says_a_wrong_option_before_torch_loads(tmp_path):
    said, err = before_torch("embedding_study", ["model=nope"], tmp_path, hydra=True)
    assert said == ["exit", "1", "False"], said + [err[-2000:]]  # Hydra's own status
    assert "Could not override 'model'" in err


@pytest.mark.parametrize("command, argv, said", [
    ("analysis_stages", ["--scores", "{tmp}/none.csv"], "python -m rm_lab.analysis.stages: scores table {tmp}/none.csv "
                                                        "does not exist: give a CSV with columns model and score"),
    ("analysis_stages", ["--scores", "{tmp}/none.csv", "--stages", "{tmp}/no.csv"],
     "python -m rm_lab.analysis.stages: stages table {tmp}/no.csv does not exist: give a CSV with columns model, "
     "family, stage and parent"),
    ("analysis", ["--benchmarks", "{tmp}/none.csv", "--scores", "{tmp}/none.csv"],
     "python -m rm_lab.analysis: benchmark table {tmp}/none.csv does not exist; "),
], ids=["scores", "stages", "benchmarks"])
def test_the_analyses_name_a_missing_table(command, argv, said, capsys, tmp_path):
    main = importlib.import_module(f"rm_lab.cli.{command}").main
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(said.format(tmp=tmp_path)) and "Errno" not in err


def test_results_says_a_folder_without_results_files(capsys, tmp_path):
    from rm_lab.cli.results import main

    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"python -m rm_lab.results: no results.json under {tmp_path}: ")


def test_python_m_rm_lab_cli_says_an_unknown_subcommand(capsys):
    from rm_lab.cli.__main__ import main

    assert main(["nope"]) == 2
    said = capsys.readouterr()
    assert said.out == "" and said.err.startswith("python -m rm_lab.cli: no command 'nope': the one subcommand is methods")
    assert "python -m rm_lab.score " in said.err  # the listing, to pick from
    assert main([]) == 0 and "python -m rm_lab.score " in capsys.readouterr().out


@pytest.mark.parametrize("command, prog", [("bench", "rm_lab.bench"), ("param_table", "rm_lab.param_table"),
                                           ("inference_compare", "rm_lab.inference_compare"),
                                           ("add_domain", "rm_lab.add_domain"),
                                           ("embedding_speed", "rm_lab.embedding_study.speed")])
def test_usage_names_the_command_as_typed(command, prog, capsys):
    main = importlib.import_module(f"rm_lab.cli.{command}").main
    with pytest.raises(SystemExit):
        main(["--help"])
    assert capsys.readouterr().out.startswith(f"usage: python -m {prog} ")


@pytest.mark.parametrize("command, argv", [("embedding_speed", ["model=nope"]), ("embedding_sweep", ["seed=1"]),
                                           ("plan", ["method=nope"])])
def test_the_config_is_said_wrong_before_torch_loads(command, argv, tmp_path):
    said, err = before_torch(command, argv, tmp_path)
    assert said == ["exit", "2", "False"], said + [err[-2000:]]


@pytest.mark.parametrize("argv, said", [
    (["--precisions", "fp16"], "python -m rm_lab.bench: error: argument --precisions: fp16: give some of fp32,bf16"),
    (["--pairs", "0"], "python -m rm_lab.bench: error: argument --pairs: must be an integer >= 1, got '0'"),
], ids=["precision", "pairs"])
def test_the_bench_says_a_wrong_precision_or_count(argv, said, capsys):
    from rm_lab.cli.bench import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert said in capsys.readouterr().err.splitlines()


def test_a_sweeps_user_errors_are_one_line_each_and_the_other_jobs_run(tmp_path):
    said, err = before_torch("train", ["-m", "method.lr=0,-1", f"hydra.sweep.dir={tmp_path}/sweep"], tmp_path,
                             hydra=True)
    assert said[-3:] == ["exit", "1", "False"], said + [err[-2000:]]  # both jobs refused before torch loads
    assert "Traceback" not in err, err[-2000:]
    lines = err.splitlines()
    for value in ("0", "-1"):  # each job says its own error
        assert f"rm_lab: error: method.lr must be a finite number > 0, got {value}" in lines, err[-2000:]
    assert any(line.startswith("Error executing job with overrides: ") for line in lines)  # Hydra names the job


@pytest.mark.parametrize("argv, said", [
    (["experiment=embedding_paper"], "rm_lab: error: experiment=embedding_paper is not a training run: run it with "
                                     "python -m rm_lab.embedding_study experiment=embedding_paper"),
    (["test_on=first"], "rm_lab: error: test_on must be one of ['best', 'last'], got 'first'"),
    (["ckpt=somewhere"], "rm_lab: error: ckpt=somewhere tests a trained model's weights: add train=false"),
], ids=["study_experiment", "test_on", "ckpt_with_training"])
def test_what_only_the_runner_asks_is_said_before_torch(argv, said, tmp_path):
    out, err = before_torch("train", [*argv, f"hydra.run.dir={tmp_path}/run"], tmp_path, hydra=True)
    assert out == ["exit", "2", "False"], out + [err[-2000:]]
    assert said in err.splitlines() and "Traceback" not in err, err[-2000:]


@pytest.mark.parametrize("argv, said", [
    (["data.source=file"], "python -m rm_lab.embedding_study: error: data.source must be one of "
                           "['synthetic', 'files'], got 'file'"),
    (["experiment=embedding_paper"], "python -m rm_lab.embedding_study: error: data.source=files needs data.path=DIR"),
    (["data.source=files", "data.path={tmp}/nope"], "python -m rm_lab.embedding_study: error: data.path={tmp}/nope "
                                                    "is not a folder"),
    (["rules=[mean,median]"], "python -m rm_lab.embedding_study: error: rules ['median'] are unknown"),
], ids=["source", "no_path", "not_a_folder", "rule"])
def test_the_embedding_studys_wrong_values_are_one_line_before_torch(argv, said, tmp_path):
    out, err = before_torch("embedding_study", [a.replace("{tmp}", str(tmp_path)) for a in argv]
                            + [f"hydra.run.dir={tmp_path}/run"], tmp_path, hydra=True)
    assert out == ["exit", "2", "False"], out + [err[-2000:]]
    assert err.splitlines()[0].startswith(said.replace("{tmp}", str(tmp_path))) and "Traceback" not in err, err[-2000:]


def test_the_embedding_studys_rule_names_are_the_ensembles():
    from rm_lab.models.ensemble_heads import RULES
    from rm_lab.studies.embedding.checks import RULE_NAMES

    assert RULE_NAMES == RULES


def test_a_taken_run_folder_is_said_before_torch(tmp_path, write_run):
    from filelock import FileLock

    from rm_lab.rundir.layout import RunDir

    done = RunDir(tmp_path / "done")
    write_run(done.results, method="baseline", model="tiny-deberta", dataset="d", seed=0)
    before = done.results.read_bytes()
    out, err = before_torch("train", [f"hydra.run.dir={done.root}", "seed=5"], tmp_path, hydra=True)
    assert out == ["exit", "2", "False"], out + [err[-2000:]]
    assert "already holds a completed run; results are never overwritten" in err and "Traceback" not in err
    assert done.results.read_bytes() == before
    live = RunDir(tmp_path / "live")
    live.root.mkdir()
    with FileLock(str(live.lock), timeout=0):  # a live run holds the folder
        out, err = before_torch("train", [f"hydra.run.dir={live.root}"], tmp_path, hydra=True)
    assert out == ["exit", "2", "False"], out + [err[-2000:]]
    assert f"{live.root} is in use by a live run" in err and "Traceback" not in err


def test_a_run_refused_for_a_wrong_value_leaves_no_folder_behind(tmp_path):
    root = tmp_path / "runs"
    out, err = before_torch("train", ["seed=-1", f"paths.run_root={root}"], tmp_path, hydra=True)
    assert out == ["exit", "2", "False"] and "seed must be an integer >= 0, got -1" in err, out + [err[-2000:]]
    assert not list(root.rglob("*"))  # Hydra's folder for it, and its emptied parents, are gone
    mine = tmp_path / "mine"  # a folder that held something already is kept as it was, Hydra's files aside
    mine.mkdir()
    (mine / "notes.txt").write_text("x")
    out, err = before_torch("train", ["seed=-1", f"hydra.run.dir={mine}"], tmp_path, hydra=True)
    assert out == ["exit", "2", "False"] and (mine / "notes.txt").read_text() == "x"


@pytest.mark.parametrize("env, first", [
    ({}, True), ({"LOCAL_RANK": "1"}, False), ({"RANK": "0", "SLURM_PROCID": "3"}, True),
    ({"SLURM_PROCID": "2"}, False), ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, False),
])
def test_only_a_runs_first_process_checks_its_folder_early(env, first, monkeypatch):
    from rm_lab.cli.train import RANK_VARIABLES, first_process

    for key in (*RANK_VARIABLES, "NODE_RANK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert first_process() is first  # the others join the first one's locked folder
