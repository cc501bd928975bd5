"""``python -m bench [NAME...]``: run benchmarks, print ratios, write ``bench/results/NAME.json``.

Each benchmark module in this package has ``run() -> list[Figure]``. A figure carries the
wingspan measurement, the baseline measured in the same run on the same machine, their
ratio and its target. Each table shows the target beside the figure and marks it ``ok`` or
``MISS``; the figures that missed are listed again at the end, so a reader sees at a glance
where the node stands.
"""

import argparse
import importlib
import json
import os
import sys
import traceback

BENCHMARKS = ("memory", "boot", "console", "fanout", "stats", "power", "files", "activity",
              "sftp", "transfer", "backup")
RESULTS = os.path.join(os.path.dirname(__file__), "results")


def print_table(name, figures):
    width = max([len("figure")] + [len(f.name) for f in figures])
    row = "%%-%ds %%10s %%10s %%7s %%-4s %%s" % width
    print("\n== %s ==" % name)
    print(row % ("figure", "wingspan", "baseline", "ratio", "", "target"))
    for f in figures:
        print(row % (f.name, f.show(f.value), f.show(f.baseline), f.show_ratio(), f.verdict(),
                     f.target))


def print_misses(missed):
    """The figures that missed their targets, after all the tables."""
    if not missed:
        print("\nevery checked target met")
        return
    print("\nmissed targets:")
    for name, f in missed:
        print("  %s: %s = %s (ratio %s), target %s" % (name, f.name, f.show(f.value),
                                                     f.show_ratio(), f.target))


def write_results(name, figures):
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, "%s.json" % name)
    with open(path, "w") as out:
        json.dump({"benchmark": name, "figures": [f.as_dict() for f in figures]}, out, indent=2)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="one of: %s (default: all)" % ", ".join(BENCHMARKS))
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error("unknown benchmark(s): %s" % ", ".join(sorted(unknown)))
    failed = []
    missed = []
    for name in args.names or BENCHMARKS:
        try:
            figures = importlib.import_module("bench.%s" % name).run()
        except Exception:  # one broken benchmark must not cost the others their run
            traceback.print_exc()
            failed.append(name)
            continue
        print_table(name, figures)
        print("written: %s" % write_results(name, figures))
        missed.extend((name, f) for f in figures if f.met is False)
    print_misses(missed)
    if failed:
        print("failed: %s" % ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
