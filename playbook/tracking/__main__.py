"""``python -m playbook.tracking PACK [--mlflow URI] [--register NAME]``: log a finished pack to MLflow, as
``playbook run --mlflow`` does at the end of a run (exit 0 logged, 2 bad input or logging failed)."""

from __future__ import annotations

import argparse
import sys

from playbook.tracking.client import DEFAULT_URI, TrackingError, log_pack


def lines(logged) -> list[str]:
    """What a run prints once the pack is in MLflow."""
    out = [f"mlflow: run {logged.run_id} (experiment {logged.experiment_id}) at {logged.tracking_uri}"]
    if logged.model_uri is None:
        out.append(f"mlflow: no model logged ({logged.model_note})")
    if logged.version:
        out.append(f"mlflow: registered {logged.registered_name} version {logged.version} (alias challenger)")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m playbook.tracking", description="Log a finished evidence pack as an "
                                "MLflow run (and register its model).")
    p.add_argument("pack", help="the pack folder (holding manifest.json)")
    p.add_argument("--mlflow", default=None, metavar="TRACKING_URI",
                   help=f"the MLflow tracking URI (default: {DEFAULT_URI} in the current folder)")
    p.add_argument("--register", default=None, metavar="NAME", help="register the model under this name")
    p.add_argument("--digest", default=None, metavar="D", help="the pack must have this digest")
    args = p.parse_args(argv)
    try:
        logged = log_pack(args.pack, args.mlflow, register=args.register, digest=args.digest)
    except TrackingError as exc:
        print(f"playbook: error: {exc}", file=sys.stderr)
        return 2
    for line in lines(logged):
        print(line)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
