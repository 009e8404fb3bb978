"""``python -m playbook.workshop split CSV FOLDER`` (the tutorial's first step) and ``... exercises`` (regenerate the
exercise notebooks from the solutions). Exit 0, or 2 with one sentence on bad input."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m playbook.workshop", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("split", help="split one CSV into FOLDER/reference.csv and FOLDER/current.csv")
    s.add_argument("csv", help="your data: one CSV (or parquet) file with the target column")
    s.add_argument("folder", help="where reference.csv and current.csv are written (e.g. my-model/data)")
    s.add_argument("--current-share", type=float, default=0.3, help="share of rows that become the current data")
    s.add_argument("--by", default=None, help="a date or time column: the most recent rows become the current data "
                                              "(default: a seeded random split)")
    s.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("exercises", help="write workshop/*.ipynb from workshop/solutions/*.ipynb")
    e.add_argument("--check", action="store_true", help="only report exercises that differ (exit 1)")
    args = p.parse_args(argv)
    if args.command == "split":
        from playbook.data import DataError
        from playbook.workshop.packs import split_csv

        try:
            ref, cur = split_csv(args.csv, args.folder, args.current_share, args.by, args.seed)
        except (DataError, ValueError, OSError) as exc:
            print(f"playbook.workshop: error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {ref} and {cur}")
        return 0
    from playbook.workshop.notebooks import write_exercises

    stale = write_exercises(check=args.check)
    for path in stale:
        print(f"{'differs' if args.check else 'wrote'}: {path}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
