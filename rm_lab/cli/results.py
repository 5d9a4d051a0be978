"""`python -m rm_lab.results`: results.json: the one record a run leaves behind, its schema in code."""
from __future__ import annotations

import sys

from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.results import SCHEMA_VERSION, ResultsSchemaError, find_results, upgrade_results

PROG = "python -m rm_lab.results"


def main(argv: list[str] | None = None) -> int:
    """python -m rm_lab.results RESULTS_OR_FOLDER...: upgrade older results files in place."""
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths or any(p in ("-h", "--help") for p in paths):
        print(main.__doc__)
        return 0 if paths else 2
    try:
        files = find_results(*paths)
    except FileNotFoundError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 2
    if not files:
        print(f"{PROG}: no {RunDir.RESULTS} under {', '.join(paths)}: give a run folder, a sweep folder "
              "(multirun/<experiment>/...) or a results file", file=sys.stderr)
        return 2
    failures = 0
    for f in files:
        try:
            print(f"{'upgraded' if upgrade_results(f) else 'current '} {f}")
        except (OSError, ResultsSchemaError) as err:
            failures += 1
            print(f"{PROG}: {err}", file=sys.stderr)
    print(f"{len(files) - failures} of {len(files)} results files at schema version {SCHEMA_VERSION}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
