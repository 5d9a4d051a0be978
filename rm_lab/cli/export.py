"""`python -m rm_lab.export`: Export a trained run: `python -m rm_lab.export RUN_DIR OUT_DIR [--push-to-hub REPO]`."""
from __future__ import annotations

import argparse
import sys

from rm_lab.inference.export import EXIT_USAGE, FORMATS, export
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.manifest import EXPORT_KIND, read_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help=f"folder of a completed run (holds {RunDir.RESULTS})")
    parser.add_argument("out_dir", help="where to write the export (must not exist, or be empty)")
    parser.add_argument("--format", default="auto", choices=FORMATS,
                        help="transformers (Baseline/BaseLoRA), run (any method), auto (default: "
                             "transformers for Baseline/BaseLoRA, run for the others)")
    parser.add_argument("--push-to-hub", metavar="REPO", help="upload the folder to this hub model repository")
    args = parser.parse_args(argv)

    from rm_lab.core.hub import HubUnavailable

    try:
        out = export(args.run_dir, args.out_dir, args.format, args.push_to_hub)
    except (OSError, ValueError, HubUnavailable, ImportError) as err:
        print(f"python -m rm_lab.export: {err}", file=sys.stderr)
        return EXIT_USAGE
    manifest = read_manifest(RunDir(out).export_manifest, EXPORT_KIND)
    how = ("AutoModelForSequenceClassification.from_pretrained" if manifest["format"] == "transformers"
           else "rm_lab.load_reward_model")
    print(f"exported {manifest['method']} on {manifest['backbone']} to {out} (format {manifest['format']}): "
          f"load it with {how}({str(out)!r})" + (f"; pushed to {args.push_to_hub}" if args.push_to_hub else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
