"""`python -m rm_lab.cli`: every command, one line each; `python -m rm_lab.cli methods ...`: the methods."""
import sys

from rm_lab.cli import EXIT_USAGE, listing, methods

if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["methods"]:
        sys.exit(methods(args[1:]))
    if args and args[0] not in ("-h", "--help"):
        print(f"python -m rm_lab.cli: no command {args[0]!r}: the one subcommand is methods; every command:\n"
              f"{listing()}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    print(listing())
