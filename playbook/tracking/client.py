"""A finished evidence pack in MLflow: the run, the registered model version, the aliases.

Everything here imports MLflow inside the functions, so ``playbook --help`` and ``playbook run`` without
``--mlflow`` never pay for it. Every failure is a :class:`TrackingError` whose text is one sentence naming the input
and the fix. Nothing here writes into the pack: it is verified first and only read.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from dataclasses import dataclass
from importlib import metadata as _metadata
from importlib import util as _importutil
from pathlib import Path

from playbook.tracking import record

DEFAULT_URI = "sqlite:///mlruns.db"   # a local store in the current folder; its artifacts go to ./mlruns beside it
ARTIFACT_FOLDER = "mlruns"            # the artifact folder next to a local SQLite store
PACK_ARTIFACTS = "pack"               # the pack's folder inside the run's artifacts
MODEL_NAME = "model"                  # the logged model's name in the run
CHALLENGER, CHAMPION = "challenger", "champion"
INSTALL = ('MLflow is not installed in this environment; install the extra with `pip install -e ".[mlflow]"` from '
           "the playbook's folder, then run again.")
# requests to a tracking server while checking it before a run: fail fast instead of MLflow's minutes of retries
_PROBE_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


class TrackingError(RuntimeError):
    """MLflow is missing, the store cannot be reached, or logging failed (exit code 2)."""


@dataclass
class Logged:
    """What :func:`log_pack` did: the run, its logged model (``None`` and why not), the registered version."""

    tracking_uri: str
    experiment_id: str
    run_id: str
    model_uri: str | None = None
    model_note: str | None = None
    registered_name: str | None = None
    version: str | None = None


@dataclass
class Champion:
    """The version alias ``champion`` now names, and the one it named before (``None``: there was none)."""

    name: str
    version: str
    previous: str | None


def available() -> bool:
    """True when MLflow can be imported (without importing it)."""
    try:
        return _importutil.find_spec("mlflow") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["mlflow"] is None (blocked)
        return False


def require() -> None:
    if not available():
        raise TrackingError(INSTALL)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def resolve_uri(uri: str | None) -> str:
    """``uri``, or the default local store; a relative SQLite path is made absolute (against the current folder)."""
    uri = uri or DEFAULT_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///"):]).expanduser().resolve())
    return uri


def _sqlite_file(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:////") else None


def artifact_location(uri: str) -> str | None:
    """Where a new experiment of a local SQLite store keeps its artifacts: ``mlruns/`` beside the database file
    (``None``: the store or the server decides)."""
    db = _sqlite_file(uri)
    return (db.parent / ARTIFACT_FOLDER).as_uri() if db is not None else None


@contextlib.contextmanager
def _mlflow(uri: str):
    """MLflow pointed at ``uri`` (tracking and registry), its chatter kept off the terminal; restored afterwards."""
    require()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no usage data leaves the machine unless asked for
    import mlflow

    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    log = logging.getLogger("mlflow")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            yield mlflow
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
        log.setLevel(level)


@contextlib.contextmanager
def _env(values: dict):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_store(uri: str | None) -> str:
    """Prove, before a run, that MLflow is installed and the store at ``uri`` answers; return the resolved URI."""
    require()
    uri = resolve_uri(uri)
    db = _sqlite_file(uri)
    if db is not None and not db.parent.is_dir():
        raise TrackingError(f"--mlflow: the folder of {db} does not exist; create it or pass another "
                            "sqlite:/// path.")
    if db is not None and db.exists() and not db.is_file():
        raise TrackingError(f"--mlflow: {db} is a folder, not an SQLite database file; pass the path of a database "
                            "file (it is created on first use).")
    if db is not None:
        return uri  # a local store is created on first use
    from mlflow import MlflowClient

    try:
        with _env(_PROBE_ENV), _mlflow(uri):
            MlflowClient(uri).search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001  (any failure to reach the store is bad input)
        raise TrackingError(f"--mlflow: the MLflow tracking store at {uri} does not answer ({_first_line(exc)}); "
                            "start it (e.g. `mlflow server`) or pass another tracking URI.") from None
    return uri


# -- reading the pack ---------------------------------------------------------------------------------------------
def _read(root: Path) -> dict:
    """The parts of a verified pack a run needs."""
    from playbook import config as config_mod
    from playbook.serving.service import contract_path

    def js(rel: str) -> dict:
        return json.loads((root / rel).read_text(encoding="utf-8"))

    steps = {}
    for p in sorted(root.glob("steps/*/results.json")):
        res = json.loads(p.read_text(encoding="utf-8"))
        steps[res.get("step") or p.parent.name] = res.get("metrics") or {}
    cpath = contract_path(root)
    return {
        "summary": js("summary.json"), "manifest": js("manifest.json"),
        "preflight": js("preflight.json") if (root / "preflight.json").is_file() else {},
        "config": config_mod.safe_load((root / "config.yaml").read_text(encoding="utf-8")) or {},
        "contract": json.loads(cpath.read_text(encoding="utf-8")) if cpath else None,
        "step_metrics": steps,
    }


def _verified(pack: str | Path, digest: str | None) -> Path:
    from playbook import pack as pack_mod

    root = Path(pack)
    pack_mod.require_verified(root, digest, purpose="log an untouched pack (this one was not logged)",
                              error=TrackingError, check_signature=False)
    return root


def _model(root: Path, parts: dict):
    """``(estimator, trusted types, features, numeric, hashed, note)``; estimator ``None`` with the reason why not."""
    import skops.io as sio

    from playbook import preflight as preflight_mod
    from playbook.modeling import ModelError, load_model_file, sha256_file

    facts = parts["preflight"]
    rec, roles = facts.get("model") or {}, facts.get("roles") or {}
    mode = rec.get("mode")
    features = list(roles.get("features") or [])
    numeric = [c for c in features if c in set(roles.get("numeric") or [])]
    none = lambda why: (None, [], features, numeric, [], why)  # noqa: E731
    if mode == "baseline":
        stored = preflight_mod.stored_model(root)
        if stored is None:
            return none(f"the pack records a baseline but holds no {preflight_mod.MODEL_FILE}")
        est, srec = stored
        allow_raw = bool(((parts["config"].get("policy") or {}).get("allow_raw_pii")))
        hashed = [] if allow_raw else [c for c in roles.get("pii_used") or [] if c in features and c not in numeric]
        return est, list(srec.get("trusted_types") or []), features, numeric, hashed, None
    if mode == "file":
        model_cfg = parts["config"].get("model") or {}
        path = model_cfg.get("path")
        if not path or not Path(path).is_file():
            return none(f"the model file {path} the pack judged is not there any more")
        if rec.get("sha256") and sha256_file(path) != rec["sha256"]:
            return none(f"the model file {path} changed after the pack judged it (sha256 differs)")
        try:
            est, _ = load_model_file(path, model_cfg.get("trusted_types") or [], bool(model_cfg.get("allow_pickle")))
        except ModelError as exc:
            return none(str(exc))
        names = getattr(est, "feature_names_in_", None)
        if names is not None:
            features = [str(c) for c in names]
            numeric = [c for c in features if c in set(roles.get("numeric") or [])]
        try:
            trusted = sio.get_untrusted_types(data=sio.dumps(est))
        except Exception as exc:  # noqa: BLE001  (not a scikit-learn style object skops can write)
            return none(f"skops cannot save the model ({_first_line(exc)})")
        return est, trusted, features, numeric, [], None
    return none("the pack holds no model file (it judged predictions already in the data, or a model behind "
                "model.endpoint)")


def _requirements() -> list[str]:
    out = []
    for dist in ("scikit-learn", "skops", "numpy", "pandas", "scipy"):
        with contextlib.suppress(_metadata.PackageNotFoundError):
            out.append(f"{dist}=={_metadata.version(dist)}")
    return out


def signature(contract: dict, features: list[str], numeric: list[str], *, baseline: bool):
    """The MLflow ``ModelSignature`` of the model's input (and output), from the pack's data contract."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs, out = record.signature_columns(contract, features, numeric, baseline=baseline)
    return ModelSignature(inputs=Schema([ColSpec(t, name) for name, t in inputs]),
                          outputs=Schema([ColSpec(out)]) if out else None)


def _log_model(mlflow, root: Path, parts: dict) -> tuple[str | None, str | None]:
    est, trusted, features, numeric, hashed, why = _model(root, parts)
    if est is None:
        return None, why
    if parts["contract"] is None:
        return None, "the pack has no data contract to derive the model's signature from"
    mode = (parts["preflight"].get("model") or {}).get("mode")
    try:
        sig = signature(parts["contract"], features, numeric, baseline=mode == "baseline")
    except ValueError as exc:
        return None, str(exc)
    meta = {"playbook_pack": parts["summary"].get("pack"), "playbook_verdict": parts["summary"].get("verdict"),
            "playbook_pack_digest": record.digest_of(parts["manifest"]), "playbook_model_mode": mode}
    if hashed:  # these inputs are pseudonyms (playbook.privacy.digest) for the baseline, never raw values
        meta["playbook_hashed_features"] = hashed
    info = mlflow.sklearn.log_model(est, name=MODEL_NAME, signature=sig, serialization_format="skops",
                                    skops_trusted_types=trusted or None, pip_requirements=_requirements(),
                                    metadata=meta)
    return info.model_uri, None


# -- the run ------------------------------------------------------------------------------------------------------
def _experiment(client, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location(uri))


def log_pack(pack: str | Path, tracking_uri: str | None = None, *, register: str | None = None,
             experiment: str | None = None, digest: str | None = None) -> Logged:
    """Log a finished pack as one MLflow run (see the package docstring); with ``register``, register its model.

    The pack is verified first (against ``digest`` when given) and only read. ``experiment``: default the pack's
    name. A pack without a model is logged without one; registering it is refused."""
    require()
    root = _verified(pack, digest)
    parts = _read(root)
    uri = resolve_uri(tracking_uri)
    name = experiment or parts["summary"].get("pack") or root.name
    try:
        with _mlflow(uri) as mlflow:
            from mlflow.entities import Metric

            client = mlflow.MlflowClient(uri, registry_uri=uri)
            exp_id = _experiment(client, name, uri)
            with mlflow.start_run(experiment_id=exp_id, run_name=parts["summary"].get("pack") or root.name) as run:
                run_id = run.info.run_id
                mlflow.log_params(record.params_from_config(parts["config"]))
                metrics = record.metrics_from_pack(parts["summary"].get("checks") or [], parts["step_metrics"])
                ts = run.info.start_time
                client.log_batch(run_id, metrics=[Metric(k, v, ts, 0) for k, v in metrics.items()])
                mlflow.set_tags(record.tags_from_pack(parts["summary"], parts["manifest"], parts["preflight"]))
                mlflow.log_artifacts(str(root), artifact_path=PACK_ARTIFACTS)
                model_uri, note = _log_model(mlflow, root, parts)
                mlflow.set_tag(record.TAG + "model.logged", "yes" if model_uri else f"no: {note}")
                if model_uri:
                    mlflow.set_tag(record.TAG + "model_uri", model_uri)
    except TrackingError:
        raise
    except Exception as exc:  # noqa: BLE001  (MLflow raises many kinds; each is one sentence to the user)
        raise TrackingError(f"logging the pack {root} to MLflow at {uri} failed: {_first_line(exc)}") from None
    logged = Logged(tracking_uri=uri, experiment_id=exp_id, run_id=run_id, model_uri=model_uri, model_note=note)
    if register:
        logged.registered_name = register
        logged.version = _register(uri, register, run_id)
    return logged


def register(tracking_uri: str | None, name: str, run_id: str) -> str:
    """Register the model of a pack's run (logged by :func:`log_pack`) as a new version of ``name``, tag the version
    with the pack's verdict, ML Test Score, digest and name, and point the alias ``challenger`` at it. Returns the
    version."""
    uri = resolve_uri(tracking_uri)
    try:
        with _mlflow(uri) as mlflow:
            client = mlflow.MlflowClient(uri, registry_uri=uri)
            tags = client.get_run(run_id).data.tags
            model_uri = tags.get(record.TAG + "model_uri")
            if not model_uri:
                why = tags.get(record.TAG + "model.logged", "no model was logged").removeprefix("no: ")
                raise TrackingError(f"--register {name}: the pack's run {run_id} has no model to register ({why}); "
                                    "log a pack that holds a model, or drop --register.")
            keep = ("verdict", "ml_test_score", "pack_digest", "pack_name", "exit_code", "model.sha256")
            vtags = {record.TAG + k: tags[record.TAG + k] for k in keep if record.TAG + k in tags}
            with contextlib.redirect_stderr(io.StringIO()):  # its "Successfully registered ..." lines; errors raise
                mv = mlflow.register_model(model_uri, name, tags=vtags)
            client.set_registered_model_alias(name, CHALLENGER, mv.version)
            return str(mv.version)
    except TrackingError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise TrackingError(f"--register {name}: registering the model in MLflow at {uri} failed: "
                            f"{_first_line(exc)}") from None


def set_champion(tracking_uri: str | None, name: str, version: str | int | None = None, *,
                 pack: str | Path | None = None) -> Champion:
    """Point the alias ``champion`` of registered model ``name`` at ``version``, or at the version registered from
    ``pack`` (found by the pack digest its tag records). What ``playbook compare --promote`` calls on a promote
    recommendation; moving it back to :attr:`Champion.previous` is the roll-back."""
    if (version is None) == (pack is None):
        raise TrackingError("set_champion: give either a model version or a pack, not both or neither.")
    uri = resolve_uri(tracking_uri)
    want = None
    if pack is not None:
        root = _verified(pack, None)
        want = record.digest_of(json.loads((root / "manifest.json").read_text(encoding="utf-8")))
    try:
        with _mlflow(uri) as mlflow:
            client = mlflow.MlflowClient(uri, registry_uri=uri)
            if want is not None:
                found = [mv for mv in client.search_model_versions(f"name = '{name}'")
                         if (mv.tags or {}).get(record.TAG + "pack_digest") == want]
                if not found:
                    raise TrackingError(f"{pack}: no version of the registered model {name!r} was registered from "
                                        "this pack (no version's playbook.pack_digest tag matches it); log it with "
                                        f"`playbook run ... --mlflow --register {name}` first.")
                version = max(found, key=lambda mv: int(mv.version)).version
            version = str(version)
            client.get_model_version(name, version)  # a missing version is refused here, before the alias moves
            try:
                previous = str(client.get_model_version_by_alias(name, CHAMPION).version)
            except mlflow.exceptions.MlflowException:
                previous = None
            client.set_registered_model_alias(name, CHAMPION, version)
            if previous and previous != version:
                client.set_model_version_tag(name, version, record.TAG + "replaced_champion", previous)
            return Champion(name=name, version=version, previous=previous)
    except TrackingError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise TrackingError(f"set_champion: moving the alias {CHAMPION!r} of {name!r} to version {version} in MLflow "
                            f"at {uri} failed: {_first_line(exc)}") from None


_register = register  # log_pack's ``register`` argument shadows the function's name inside it


__all__ = ["ARTIFACT_FOLDER", "CHALLENGER", "CHAMPION", "Champion", "DEFAULT_URI", "INSTALL", "Logged",
           "MODEL_NAME", "PACK_ARTIFACTS", "TrackingError", "artifact_location", "available", "check_store",
           "log_pack", "register", "require", "resolve_uri", "set_champion", "signature"]
