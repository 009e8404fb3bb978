"""``playbook run --mlflow [TRACKING_URI] --register NAME``: the options, the check before the run, the logging after.

Before any work, :func:`before_run` proves MLflow is installed and the store answers (a server that does not answer
fails in seconds, not after the pack). After the pack is complete and verified, :func:`after_run` logs it. A
logging failure never touches the pack: the run says so in one sentence, names the command that logs it again,
and exits 2, because what it was asked to do did not all happen (a CI job that asked for the MLflow record must
notice it is missing).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playbook.tracking.client import DEFAULT_URI, TrackingError, check_store, log_pack

_DEFAULT = object()  # --mlflow given without a URI


def add_arguments(p) -> None:
    p.add_argument("--mlflow", nargs="?", const=_DEFAULT, default=None, metavar="TRACKING_URI",
                   help=f"log the finished pack as an MLflow run (default store: {DEFAULT_URI} in the current "
                        "folder, artifacts in ./mlruns beside it); needs the mlflow extra")
    p.add_argument("--register", default=None, metavar="NAME",
                   help="with --mlflow (implied, default store): register the pack's model as a version of NAME, "
                        "tagged with the verdict, and point the alias 'challenger' at it")


def requested(args) -> bool:
    return args.mlflow is not None or args.register is not None


def before_run(args) -> str:
    """The resolved tracking URI; :class:`TrackingError` (exit 2, nothing written) when it cannot be used."""
    uri = None if args.mlflow in (None, _DEFAULT) else str(args.mlflow)
    if uri and uri.lower().endswith((".yaml", ".yml")) and Path(uri).is_file():
        raise TrackingError(f"--mlflow took {uri} as its tracking URI, but it is a config file; put the config "
                            "before --mlflow (playbook run CONFIG --mlflow) or give the tracking URI after it.")
    if args.register is not None and (not str(args.register).strip() or any(c in args.register for c in "/:")):
        raise TrackingError(f"--register {args.register!r}: a registered model's name must not be empty nor hold "
                            "'/' or ':'; pass a name such as --register credit-risk.")
    return check_store(uri)


def after_run(res, uri: str, register: str | None, err) -> int:
    """Log the finished pack of ``res`` (a ``runner.RunResult``); the run's exit code, or 2 when logging failed."""
    from playbook.pack import PackError, verify
    from playbook.tracking.__main__ import lines

    try:
        logged = log_pack(res.pack, uri, register=register, digest=res.digest)
    except TrackingError as exc:
        try:
            intact = verify(res.pack, digest=res.digest, check_signature=False).ok
        except PackError:
            intact = False
        state = "complete and unchanged" if intact else "kept as it is"
        again = f"python -m playbook.tracking {res.pack} --mlflow {uri}" + (f" --register {register}" if register else "")
        return err(f"{exc}; the pack is {state} at {res.pack} (verdict {res.verdict}): log it again with `{again}`.")
    for line in lines(logged):
        print(line, file=sys.stdout)
    return res.exit_code
