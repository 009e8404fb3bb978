"""Command line: argument parsing, exit codes and progress. No logic lives here.

Exit codes: 0 go / intact / healthy, 1 no-go / not intact / alert, 2 error or bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playbook import __version__

EXIT_GO, EXIT_NOGO, EXIT_ERROR = 0, 1, 2


def _err(msg: str) -> int:
    print(f"playbook: error: {msg}", file=sys.stderr)
    return EXIT_ERROR


def _os_error(exc: OSError) -> str:
    import errno

    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    if exc.errno == errno.ENOSPC:
        return f"the disk filled up while the pack was written{where}; no pack was written: free some space or choose another --out."
    return f"could not write the pack: {exc.strerror or exc}{where}; no pack was written: check the --out folder."


def cmd_run(args) -> int:
    import signal

    from playbook import progress
    from playbook.config import ConfigError
    from playbook.data import DataError
    from playbook.pack import PackError
    from playbook.runner import RunError, run

    def _terminate(signum, frame):  # a polite kill (SIGTERM, e.g. a CI timeout) cleans up like Ctrl-C
        raise KeyboardInterrupt

    tracking_uri = None
    if args.mlflow is not None or args.register is not None:  # checked before any work; mlflow imported only then
        from playbook.tracking import TrackingError, command as tracking

        try:
            tracking_uri = tracking.before_run(args)
        except TrackingError as exc:
            return _err(str(exc))
    # stderr: a bar on a terminal, else one line per finished step; -q: neither (warnings and errors still show)
    shown = progress.for_stream(sys.stderr, quiet=args.quiet)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        overrides = list(args.param) + ([f"previous={Path(args.previous).expanduser().resolve()}"]
                                        if args.previous else [])
        res = run(args.config, out=args.out, name=args.name, steps=args.steps, force=args.force,
                  overrides=overrides, progress=shown, log=shown.message)
    except (ConfigError, DataError, RunError, PackError) as exc:
        return _err(str(exc))
    except KeyboardInterrupt:
        return _err("interrupted; no pack was written (an earlier pack of that name is unchanged).")
    except OSError as exc:
        return _err(_os_error(exc))
    finally:
        signal.signal(signal.SIGTERM, previous)
    s = res.summary
    failing = [r["text"] for r in s.get("reasons", [])]
    partial = " (partial run)" if s.get("partial") else ""
    print(f"verdict: {res.verdict}{partial}  ({', '.join(f'{k} {v}' for k, v in s.get('counts', {}).items())})")
    if args.quiet:  # the verdict, and the digest to record (signed: its key id)
        print(f"pack digest: {res.digest}")
    else:
        for line in failing:
            print(f"  - {line}")
        print(f"pack: {res.pack}")
        print(f"open: {res.pack / 'index.html'}")
        print(f"pack digest: {res.digest}  (record it; check later with: playbook verify {res.pack} --digest {res.digest})")
    if res.signature:
        print(f"signed: {res.signature['algorithm']} with key id {res.signature['key_id']}")
    if tracking_uri is not None:  # the pack is complete and verified; logging it never changes it
        return tracking.after_run(res, tracking_uri, args.register, _err)
    return res.exit_code


def cmd_batch(args) -> int:
    import signal

    from playbook.batch import BatchError, BatchInterrupted, final_line, load_matrix, run_batch

    def _terminate(signum, frame):  # a CI timeout stops the running packs like Ctrl-C
        raise KeyboardInterrupt

    from playbook.progress import BatchProgress

    shown = None

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        matrix = load_matrix(args.matrix)
        # one bar over all packs on a terminal, else one line per finished pack; -q: only the final line
        shown = BatchProgress(len(matrix.entries), sys.stderr, quiet=args.quiet)
        res = run_batch(matrix, out=args.out, workers=args.workers, scheduler=args.scheduler, force=args.force,
                        steps=args.steps, on_done=shown.done)
    except BatchError as exc:
        return _err(str(exc))
    except BatchInterrupted as exc:
        if shown is not None:
            shown.close()
        print(final_line(exc.result))
        return _err(f"interrupted; the packs still running were stopped (on a Dask cluster one already running may "
                    f"still be written) and {exc.result.html} lists the packs that finished.")
    except KeyboardInterrupt:
        return _err("interrupted before any pack was started; nothing was written.")
    except OSError as exc:  # e.g. a full disk while batch.csv / batch.html were written
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return _err(f"could not write the batch summary: {exc.strerror or exc}{where}; check the --out folder.")
    finally:
        signal.signal(signal.SIGTERM, previous)
        if shown is not None:
            shown.close()
    print(final_line(res))
    return res.exit_code


def cmd_verify(args) -> int:
    from playbook.pack import PackError, verify

    try:
        rep = verify(args.pack, digest=args.digest)
    except PackError as exc:
        return _err(str(exc))
    for line in rep.lines():
        print(line)
    return EXIT_GO if rep.ok else EXIT_NOGO


def cmd_compare(args) -> int:
    from playbook.compare import CompareError, compare_packs, write
    from playbook.compare.policy import PromotionPolicyError

    promotion = {}
    for text in args.param:
        key, sep, value = text.partition("=")
        if not sep:
            return _err(f"-p {text}: expected KEY=VALUE with a policy.promotion key, e.g. -p max_metric_drop=0.01.")
        import yaml

        try:
            promotion[key.strip().removeprefix("policy.promotion.")] = yaml.safe_load(value)
        except yaml.YAMLError:
            return _err(f"-p {text}: the value is not valid YAML; quote it or give a number, true/false or a name.")
    uri = None
    if args.promote is not None:
        from playbook.tracking import client as tracking

        if not str(args.promote).strip() or any(c in args.promote for c in "/:"):
            return _err(f"--promote {args.promote!r}: a registered model's name must not be empty nor hold '/' or "
                        "':'; pass the name the packs were registered under, e.g. --promote credit-risk.")
        try:
            uri = tracking.check_store(args.mlflow)  # before any work: mlflow installed, the store answers
        except tracking.TrackingError as exc:
            return _err(str(exc))
    try:
        res = compare_packs(args.old, args.new, promotion)
        js, html = write(res, args.out)
    except (CompareError, PromotionPolicyError) as exc:
        return _err(str(exc))
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return _err(f"could not write the comparison: {exc.strerror or exc}{where}; check the --out folder.")
    print(f"recommendation: {res['recommendation']}  ({res['old']['name']} -> {res['new']['name']}, "
          f"{res['pairing']['kind']})")
    for r in res["reasons"]:
        print(f"  - [{r['outcome']}] {r['text']}")
    print(f"compare.json: {js}")
    print(f"open: {html}")
    if args.promote is not None:
        if res["recommendation"] != "promote":
            print(f"champion: not moved ({res['recommendation']}): the alias 'champion' of {args.promote} stays "
                  "where it is")
            return res["exit_code"]
        from playbook.tracking import client as tracking

        try:
            champ = tracking.set_champion(uri, args.promote, pack=args.new)
        except tracking.TrackingError as exc:
            return _err(f"{exc} (the comparison is written: {js})")
        was = f" (was version {champ.previous}; moving it back there is the roll-back)" if champ.previous else ""
        print(f"champion: {champ.name} version {champ.version}{was}")
    return res["exit_code"]


def cmd_clean(args) -> int:
    from playbook.pack import clean_stale

    folder = Path(args.out)
    if not folder.is_dir():
        return _err(f"{folder}: no such folder; pass the --out folder that holds the packs (default: ./evidence).")
    rep = clean_stale(folder, args.name)
    from playbook.kernels import sweep_sockets

    sockets = sweep_sockets()
    for d in sockets:
        print(f"removed: {d} (the kernel sockets of a run that died)")
    for d in rep.restored:
        print(f"restored: {d} (a run killed while replacing it had moved it aside)")
    for d in rep.removed:
        print(f"removed: {d}")
    for d, why in rep.kept:
        print(f"kept: {d} ({why})")
    if not (rep.removed or rep.kept or rep.restored or sockets):
        print(f"nothing to clean in {folder}")
    return EXIT_GO


def cmd_templates(args) -> int:
    from playbook.runner import WIRING, discover, template_parameters, template_title

    from playbook.params import constraint

    for t in discover():
        print(f"{t.dirname}  (step: {t.name})  {template_title(t.path)}")
        if args.brief:
            continue
        for pname, p in template_parameters(t.path).items():
            if pname in WIRING:
                continue
            typ = p.get("inferred_type_name") or "?"
            spec = constraint(t.name, pname, typ)
            rule = f"  [{spec.describe()}]" if spec is not None and spec.describe() not in ("text", "true or false") else ""
            help_ = f"  # {p['help']}" if p.get("help") else ""
            print(f"    {pname}: {typ} = {p.get('default')}{rule}{help_}")
    return EXIT_GO


def cmd_init(args) -> int:
    from playbook.config import STARTER

    folder = Path(args.dir)
    target = folder / args.filename
    if target.exists() and not args.force:
        return _err(f"{target} already exists; pass --force to overwrite it or choose another folder.")
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(STARTER.format(name=target.name), encoding="utf-8")
    print(f"wrote {target}: set data.reference, data.current and data.target, then run: playbook run {target}")
    return EXIT_GO


def cmd_serve(args) -> int:
    try:
        from playbook.serving.server import serve
        from playbook.serving.service import ServeError
    except ImportError as exc:
        return _err(f"serving needs FastAPI and uvicorn ({exc.name} is missing); install them with "
                    "`pip install -e .` from the playbook's folder.")
    try:
        return serve(args.pack, host=args.host, port=args.port, token_env=args.token_env, max_batch=args.max_batch,
                     max_concurrency=args.max_concurrency, max_queue=args.max_queue, ready_file=args.ready_file,
                     service_folder=args.service_folder, log_level=args.log_level)
    except ServeError as exc:
        return _err(str(exc))
    except KeyboardInterrupt:
        return EXIT_GO


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="playbook",
        description="Production-readiness playbook: run the templates on your data and model, and get a verifiable evidence pack with a go / no-go verdict.",
    )
    p.add_argument("--version", action="version", version=f"playbook {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="run the playbook and write an evidence pack (exit 0 go, 1 no-go or incomplete, 2 error)",
                       description="Run the templates in order and assemble the evidence pack. Without CONFIG, runs on the bundled German credit data.")
    r.add_argument("config", nargs="?", default=None, help="pack config YAML (default: the bundled German credit data)")
    r.add_argument("--out", default="evidence", help="folder that receives the pack folder (default: ./evidence)")
    r.add_argument("--name", default=None, help="pack folder name (default: the config's name)")
    r.add_argument("--steps", nargs="+", default=None, metavar="STEP",
                   help="run only these steps (names or numbers, e.g. data_audit 02)")
    r.add_argument("--force", action="store_true", help="replace an existing pack of the same name")
    r.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. -p data.target=label or -p steps.drift_simulation.params.trials=5")
    r.add_argument("--previous", default=None, metavar="PACK",
                   help="an earlier pack to compare with: computing-performance regression, and the review step's "
                        "comparison (compare.json, compare.html; check review.compare.previous)")
    r.add_argument("-q", "--quiet", action="store_true",
                   help="print only the verdict and the pack digest (no progress; warnings and errors still show)")
    from playbook.tracking.command import add_arguments as tracking_arguments  # MLflow itself is imported lazily

    tracking_arguments(r)
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("batch", help="build many packs at once, locally or on a Dask cluster (exit 0 all go, 1 any no-go "
                                     "or incomplete, 2 any error)",
                       description="Build one evidence pack per entry of a matrix (a list of configs, or one config "
                                   "and a grid of values) on local worker processes or on a Dask cluster, and write "
                                   "batch.csv and batch.html into --out.")
    b.add_argument("matrix", help="the matrix YAML: packs: [a.yaml, b.yaml], or base: CONFIG with grid: {KEY: [values]} "
                                  "and / or entries: [{name: ..., params: {KEY: VALUE}}]")
    b.add_argument("--out", default="evidence", help="folder that receives the packs and the summary (default: "
                                                     "./evidence); with --scheduler, a folder every worker shares")
    b.add_argument("--workers", type=int, default=None, metavar="N",
                   help="packs built at once on this host (default: the number of cores)")
    b.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run the packs on this Dask scheduler's workers instead of locally")
    b.add_argument("--steps", nargs="+", default=None, metavar="STEP",
                   help="run only these steps in every pack (names or numbers, e.g. data_audit 02)")
    b.add_argument("--force", action="store_true", help="replace existing packs of the same names")
    b.add_argument("-q", "--quiet", action="store_true", help="print only the final line")
    b.set_defaults(func=cmd_batch)

    v = sub.add_parser("verify", help="recompute every hash of a pack and its manifest digest (exit 0 intact, 1 changed)",
                       description="Recompute every file hash and the manifest's digest. With --digest, the pack must be "
                                   "the one whose digest was recorded; with PLAYBOOK_SIGNING_KEY set, its signature must "
                                   "be valid for that key.")
    v.add_argument("pack", help="the pack folder (holding manifest.json)")
    v.add_argument("--digest", default=None, metavar="D",
                   help="the pack digest recorded when it was built (sha256:...), printed by `playbook run`")
    v.set_defaults(func=cmd_verify)

    cm = sub.add_parser("compare", help="compare two packs and recommend promote, hold or roll back (exit 0 promote, "
                                        "1 hold or roll back, 2 bad input)",
                        description="Verify both packs, then show what changed between them (data, config, model, "
                                    "package versions), which checks flipped, the metric deltas with paired bootstrap "
                                    "CIs when both packs scored the same rows (unpaired otherwise), and the promotion "
                                    "recommendation under the new pack's policy.promotion; writes compare.json and "
                                    "compare.html into --out.")
    cm.add_argument("old", help="the pack of the model in production (the champion)")
    cm.add_argument("new", help="the pack of the candidate model")
    cm.add_argument("--out", default="compare", help="folder that receives compare.json and compare.html "
                                                     "(default: ./compare)")
    cm.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                    help="override a policy.promotion key of the new pack, e.g. -p max_metric_drop=0.01")
    cm.add_argument("--promote", default=None, metavar="NAME",
                    help="on a promote recommendation, point the MLflow alias 'champion' of the registered model NAME "
                         "at the version registered from the new pack (playbook run ... --mlflow --register NAME); "
                         "hold or roll back leave it where it is")
    cm.add_argument("--mlflow", default=None, metavar="TRACKING_URI",
                    help="the MLflow store of --promote (default: sqlite:///mlruns.db in the current folder)")
    cm.set_defaults(func=cmd_compare)

    c = sub.add_parser("clean", help="remove the unfinished folders of runs that died (exit 0)",
                       description="Remove the hidden build folders (.NAME.partial-*, .NAME.old-*) of runs that died, "
                                   "and the kernel socket folders (playbook-ipc-*) they left in the temporary "
                                   "folder; those of runs still going are kept.")
    c.add_argument("out", nargs="?", default="evidence", help="the folder holding the packs (default: ./evidence)")
    c.add_argument("--name", default=None, help="only this pack name")
    c.set_defaults(func=cmd_clean)

    t = sub.add_parser("templates", help="list the templates and their parameters")
    t.add_argument("--brief", action="store_true", help="names only")
    t.set_defaults(func=cmd_templates)

    i = sub.add_parser("init", help="write a commented starter config for your own data")
    i.add_argument("dir", nargs="?", default=".", help="folder to write it in (default: .)")
    i.add_argument("--filename", default="playbook.yaml", help="file name (default: playbook.yaml)")
    i.add_argument("--force", action="store_true", help="overwrite an existing file")
    i.set_defaults(func=cmd_init)

    m = sub.add_parser("monitor", help="check one production batch against a monitoring.yaml (exit 0 healthy, 1 alert, 2 bad input)")
    try:
        from playbook.monitoring.command import add_arguments, run as monitor_run
    except ImportError:
        m.set_defaults(func=lambda a: _err("the monitoring module is not available in this installation."))
    else:
        add_arguments(m)
        m.set_defaults(func=monitor_run)

    sv = sub.add_parser("serve", help="serve a pack's model over HTTP (MLflow scoring protocol, its data contract at "
                                      "the door; exit 0 when stopped, 2 bad input)",
                        description="Serve the model a pack judged at POST /invocations (dataframe_split or "
                                    "dataframe_records in, predictions out), refusing every request that breaks the "
                                    "pack's data contract with a 4xx that names the column and the rule; GET /health, "
                                    "/metadata and /metrics (Prometheus). SIGTERM finishes the requests in flight.")
    sv.add_argument("pack", help="the pack folder (holding manifest.json), e.g. evidence/german-credit")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    sv.add_argument("--port", type=int, default=8080, help="TCP port (default: 8080; 0 picks a free one)")
    sv.add_argument("--token-env", default=None, metavar="NAME",
                    help="require 'Authorization: Bearer <token>' with the token held in this environment variable")
    sv.add_argument("--max-batch", type=int, default=10_000, metavar="ROWS", help="rows per request at most (default 10000)")
    sv.add_argument("--max-concurrency", type=int, default=4, metavar="N",
                    help="requests scored at once (default 4); up to --max-queue more wait, beyond that 503")
    sv.add_argument("--max-queue", type=int, default=64, metavar="N", help="requests waiting at most (default 64)")
    sv.add_argument("--ready-file", default=None, metavar="FILE",
                    help="write HOST:PORT to FILE once listening (with --port 0, to learn the port)")
    sv.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                    help="server log level (default info: one access line per request, never headers or bodies)")
    sv.add_argument("--service-folder", action="store_true", help=argparse.SUPPRESS)  # the serving step's own server
    sv.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return int(args.func(args))
    except BrokenPipeError:  # output piped into `head` and the like
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_GO


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
