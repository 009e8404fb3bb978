"""``playbook monitor``: check one production batch against a monitoring config.

    playbook monitor --config monitoring.yaml --current batch.parquet [--labels labels.csv] [--out monitor/]

Writes a JSON result and a Prometheus text-format metrics file (for node_exporter's textfile collector),
prints a short summary, and exits 0 when the batch is healthy, 1 on any alert, 2 on bad input (a config
or file that cannot be used; one sentence names the input and the fix).

Also runnable as ``python -m playbook.monitoring.command ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from playbook.results import write_text_atomic

RESULT_NAME = "monitor_result.json"
PROM_NAME = "playbook_monitor.prom"


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--config", required=True, metavar="MONITORING_YAML",
                        help="the monitoring.yaml written by the monitoring step (steps/NN_monitoring_setup/artifacts/)")
    parser.add_argument("--current", required=True, metavar="BATCH",
                        help="the production batch to check: CSV or parquet (file or folder of files)")
    parser.add_argument("--labels", metavar="LABELS",
                        help="labels for the batch (CSV/parquet with the target column, matched on id columns or by "
                             "row order); the batch's own target column is used when present")
    parser.add_argument("--reference", metavar="DATA",
                        help="the pack's reference data (CSV/parquet, as data.reference of its config): the domain "
                             "classifier takes its reference sample from it (monitoring.yaml holds no data rows); "
                             "without it that monitor is not run")
    parser.add_argument("--out", metavar="PATH",
                        help=f"folder for {RESULT_NAME} and {PROM_NAME}, or a .json file path (the .prom file is "
                             "written next to it); default: print only")
    parser.add_argument("--prom", metavar="FILE",
                        help="write the Prometheus metrics to this file instead (e.g. into node_exporter's "
                             "--collector.textfile.directory; name it *.prom)")
    parser.add_argument("--metric-prefix", default="playbook_monitor", help="prefix of the Prometheus metric names")
    parser.add_argument("--json", action="store_true", help="print the full JSON result instead of the summary")
    return parser


def output_paths(out: str | None, prom: str | None) -> tuple[Path | None, Path | None]:
    """Where the JSON result and the Prometheus file go."""
    json_path = prom_path = None
    if out:
        o = Path(out)
        if o.suffix.lower() == ".json":
            json_path, prom_path = o, o.with_suffix(".prom")
        else:
            json_path, prom_path = o / RESULT_NAME, o / PROM_NAME
    if prom:
        prom_path = Path(prom)
    return json_path, prom_path


def summary(result: dict) -> str:
    lines = [f"{result['model']}: {result['status'].upper()} - batch of {result['rows']} rows, "
             f"{len(result['alerts'])} alert(s)"]
    for a in result["alerts"]:
        lines.append(f"  ALERT [{a['kind']}] {a['message']}")
    for n in result.get("notes", []):
        lines.append(f"  note: {n}")
    perf = result.get("performance") or {}

    def fmt(d: dict, key: str) -> str:
        v = (d or {}).get(key)
        return "n/a" if v is None else f"{v:.3f}"

    if perf.get("estimated"):
        e = perf["estimated"]
        txt = f"  estimated ROC AUC {fmt(e, 'roc_auc')}, accuracy {fmt(e, 'accuracy')} (label-free)"
        if perf.get("realized"):
            r = perf["realized"]
            txt += f"; realized ROC AUC {fmt(r, 'roc_auc')}, accuracy {fmt(r, 'accuracy')}"
        lines.append(txt)
    if result.get("drift_share") is not None:
        lines.append(f"  drift share: {result['drift_share']:.2f} of monitored features")
    return "\n".join(lines)


def read_reference(path: str, sampling: dict | None):
    """The reference data as the pack held it: the whole file, or, when monitoring.yaml records that the pack
    held a seeded sample of it (``reference.sampling``: a reference larger than ``data.max_rows``), that same
    sample, read the way preflight read it (the domain classifier's sample rows are labels of those rows)."""
    import tempfile

    from playbook.data import DataError, load_table
    from playbook.preflight import read_dataset

    if not sampling:
        return load_table(path, role="reference")
    with tempfile.TemporaryDirectory(prefix="playbook-monitor-") as work:
        got = read_dataset(Path(path), "reference", int(sampling["sample"]), int(sampling["seed"]), Path(work))
        try:
            if got["table"].rows != int(sampling["rows"]):
                raise DataError(f"data.reference: {path} has {got['table'].rows:,} rows where the pack's reference "
                                f"had {int(sampling['rows']):,}; pass the pack's reference data (data.reference of "
                                "its config)")
            return got["frame"]
        finally:
            got["table"].close()


def run(args: argparse.Namespace) -> int:
    """Exit 0 healthy, 1 alert, 2 bad input."""
    from playbook.monitoring.check import BatchInputError, align_labels, check_batch, prometheus_text, read_batch
    from playbook.monitoring.spec import MonitoringConfigError, load_spec
    from playbook.results import to_jsonable

    try:
        spec = load_spec(args.config)
        batch = read_batch(args.current, "--current")
        labels_df = read_batch(args.labels, "--labels") if getattr(args, "labels", None) else None
        labels = align_labels(spec, batch, labels_df)
        if getattr(args, "reference", None) and spec.multivariate:
            from playbook.data import DataError

            try:  # read as the pack read data.reference (encodings, delimiters, folders of files, its sample)
                reference = read_reference(args.reference, (spec.raw.get("reference") or {}).get("sampling"))
            except DataError as exc:
                raise BatchInputError(f"--reference {args.reference}: {str(exc).split(': ', 1)[-1]}") from None
            problems = spec.attach_reference(reference)
            if problems:
                raise BatchInputError(f"--reference {args.reference}: {problems[0].removeprefix('domain classifier not run: ')}")
    except (MonitoringConfigError, BatchInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = to_jsonable(check_batch(spec, batch, labels))
    json_path, prom_path = output_paths(getattr(args, "out", None), getattr(args, "prom", None))
    try:
        if json_path is not None:
            write_text_atomic(json_path, json.dumps(result, indent=2, sort_keys=True) + "\n")
        if prom_path is not None:
            write_text_atomic(prom_path, prometheus_text(result, getattr(args, "metric_prefix", "playbook_monitor")))
    except OSError as exc:
        print(f"error: --out {args.out or args.prom}: cannot write the result ({exc.strerror}); "
              "choose a writable folder.", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(summary(result))
        if json_path is not None:
            print(f"  result: {json_path}" + (f"; metrics: {prom_path}" if prom_path else ""))
    return int(result["exit_code"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="playbook monitor", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
