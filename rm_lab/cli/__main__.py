"""`python -m rm_lab.cli`: every command, one line each; `python -m rm_lab.cli methods ...`: the methods."""
import sys

from rm_lab.cli import EXIT_USAGE, listing, methods


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["methods"]:
        return methods(args[1:])
    if args and args[0] not in ("-h", "--help"):
        print(f"python -m rm_lab.cli: no command {args[0]!r}: the one subcommand is methods; every command:\n"
              f"{listing()}", file=sys.stderr)
        return EXIT_USAGE
    print(listing())
    return 0


if __name__ == "__main__":
    sys.exit(main())
