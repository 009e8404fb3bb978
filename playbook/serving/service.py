"""What a model server needs from a finished evidence pack: the model the pack judged, its data contract and the
facts ``/metadata`` reports, loaded once at start-up.

:func:`load_pack` verifies the pack first (``playbook verify``: a changed, missing or extra file refuses it), then
rebuilds the :class:`playbook.modeling.ModelAdapter` the steps used: the baseline the preflight fitted
(``model.skops``, sha256-checked) or the user's model file (the path the resolved config names, with the sha256 the
preflight recorded), so that the server scores exactly as the evaluation step did. A pack that judged predictions
already in the data has no model to serve, and says so. Every failure is a :class:`ServeError` with one sentence
naming the input and the fix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from playbook.serving.door import OPTIONAL_ROLES


class ServeError(ValueError):
    """A pack that cannot be served (exit code 2)."""


@dataclass
class Service:
    """The model of one pack with its contract; :meth:`score` turns an admitted frame into the JSON answer."""

    pack: Path
    adapter: Any
    contract: dict
    metadata: dict = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return list(self.adapter.features)

    def score(self, frame: pd.DataFrame) -> dict:
        """``{"predictions": [...]}`` plus, for a classifier with probabilities, ``probabilities`` (one list per row,
        in the order of ``classes``) and ``classes``."""
        a = self.adapter
        if a.has_proba:
            P = np.asarray(a.predict_proba(frame), dtype=float)
            # the baseline's predict is the class of the largest probability (scikit-learn's HistGradientBoosting):
            # one model call per request, not two; any other model is asked for both
            pred = (np.asarray(a.classes_, dtype=object)[P.argmax(axis=1)] if a.mode == "baseline"
                    else a.predict(frame))
            return {"predictions": _jsonable(pred), "probabilities": P.tolist(),
                    "classes": _jsonable(np.asarray(a.classes_, dtype=object))}
        return {"predictions": _jsonable(a.predict(frame))}


def _jsonable(values: np.ndarray) -> list:
    return [v.item() if isinstance(v, np.generic) else v for v in np.asarray(values).tolist()]


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ServeError(f"{path}: the pack has no {what}; build the pack with `playbook run` (a pack of playbook "
                         "0.1 or later) and serve that.") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ServeError(f"{path}: cannot read the pack's {what} ({exc}); build the pack again.") from None


def contract_path(pack: Path) -> Path | None:
    found = sorted(pack.glob("steps/*_data_audit/artifacts/data_contract.json"))
    return found[0] if found else None


def load_pack(pack: str | Path, *, verify: bool = True) -> Service:
    """The :class:`Service` of a finished pack (see the module docstring)."""
    from playbook import pack as pack_mod

    root = Path(pack)
    if not root.is_dir():
        raise ServeError(f"{pack}: no such pack folder; pass the folder that holds manifest.json "
                         "(e.g. evidence/german-credit).")
    if verify:
        pack_mod.require_verified(root, purpose="serve an untouched pack", error=ServeError, check_signature=False)
    facts = _read_json(root / "preflight.json", "preflight record (preflight.json)")
    summary = _read_json(root / "summary.json", "summary (summary.json)")
    if ((facts.get("model") or {}).get("mode")) == "endpoint":
        raise ServeError(f"{root}: the pack evaluated a model that is already served at its model.endpoint, so it "
                         "holds no model to serve; call that endpoint, or build a pack with model.path.")
    cpath = contract_path(root)
    if cpath is None:
        raise ServeError(f"{root}: the pack has no data contract (steps/*_data_audit/artifacts/data_contract.json); "
                         "run the data audit step in the pack so the server can hold requests to it.")
    from playbook.audit.contract import ContractError, load as load_contract

    try:
        contract = load_contract(cpath)
    except ContractError as exc:
        raise ServeError(str(exc)) from None
    adapter = _adapter(root, facts)
    missing = [f for f in adapter.features if f not in contract.get("columns", {})]
    if missing:
        raise ServeError(f"{cpath}: the data contract lacks the model's feature {missing[0]!r}; build the pack "
                         "again so that its audit and its model see the same columns.")
    manifest = _read_json(root / "manifest.json", "manifest (manifest.json)")
    contract_bytes = cpath.read_bytes()
    from playbook import __version__

    meta = {
        "pack": summary.get("pack") or summary.get("name") or root.name,
        "verdict": summary.get("verdict"),
        "pack_digest": (manifest.get("digest") or {}).get("value"),
        "model": {"mode": adapter.mode, "sha256": adapter.info.get("sha256"),
                  "estimator": adapter.info.get("estimator"), "task": adapter.task,
                  "classes": _jsonable(np.asarray(adapter.classes_, dtype=object)) if adapter.classes_ else None,
                  "positive_label": _jsonable(np.asarray([adapter.positive_label], dtype=object))[0]
                  if adapter.positive_label is not None else None},
        "features": list(adapter.features),
        "optional_columns": sorted(c for c, s in contract["columns"].items() if s.get("role") in OPTIONAL_ROLES),
        "contract": {"schema_version": contract.get("schema_version"),
                     "sha256": hashlib.sha256(contract_bytes).hexdigest(),
                     "path": cpath.relative_to(root).as_posix()},
        "protocol": "MLflow scoring: POST /invocations with dataframe_split or dataframe_records",
        "playbook_version": __version__,
    }
    return Service(pack=root, adapter=adapter, contract=contract, metadata=meta)


def _adapter(root: Path, facts: dict):
    """The model adapter of the pack, as :func:`playbook.modeling.get_model` built it for the steps (a pack of an
    endpoint model was refused by :func:`load_pack`)."""
    from playbook import config as config_mod
    from playbook import preflight
    from playbook.data import DataError
    from playbook.modeling import ModelAdapter, ModelError, load_model_file, sha256_file

    rec = facts.get("model") or {}
    roles = facts.get("roles") or {}
    mode = rec.get("mode")
    task = roles.get("task")
    features = list(roles.get("features") or [])
    numeric = [c for c in features if c in set(roles.get("numeric") or [])]
    categorical = [c for c in features if c not in numeric]
    classes = list(roles.get("classes") or []) or None
    common = dict(task=task, classes_=classes if task in ("binary", "multiclass") else None,
                  positive_label=roles.get("positive_label"), numeric=numeric, categorical=categorical)
    if mode == "predictions" or mode is None:
        raise ServeError(f"{root}: the pack judged predictions that were already in the data (data.prediction / "
                         "data.probability), so it holds no model to serve; build a pack with model.path (your "
                         "model file) or model.train: baseline.")
    try:
        cfg = config_mod.from_dict(config_mod.safe_load((root / "config.yaml").read_text(encoding="utf-8")))
    except (OSError, config_mod.ConfigError) as exc:
        raise ServeError(f"{root / 'config.yaml'}: cannot read the pack's resolved config ({exc}).") from None
    if mode == "baseline":
        try:
            stored = preflight.stored_model(root)
        except DataError as exc:
            raise ServeError(str(exc)) from None
        if stored is None:
            raise ServeError(f"{root}: the pack records a baseline model but holds no {preflight.MODEL_FILE}; build "
                             "the pack again.")
        est, rec = stored
        hashed = [] if cfg.policy.allow_raw_pii else [c for c in roles.get("pii_used") or [] if c in features and c not in numeric]
        info = {"mode": mode, "sha256": rec.get("sha256"), "estimator": rec.get("estimator"), "file": rec.get("file")}
        return ModelAdapter(mode=mode, features=features, estimator=est, info=info, hashed=hashed, **common)
    # a model file of the user's: the path the resolved config names, the hash the preflight recorded
    path = cfg.model.path
    if not path or not Path(path).is_file():
        raise ServeError(f"model.path: the pack's model file {path} is not there any more; put it back at that "
                         "path (the pack records its sha256) and serve again.")
    want = rec.get("sha256")
    if want and sha256_file(path) != want:
        raise ServeError(f"model.path: {path} changed after the pack judged it (sha256 differs); serve the model "
                         "the pack judged, or build a new pack for this one.")
    try:
        est, info = load_model_file(path, cfg.model.trusted_types, cfg.model.allow_pickle)
    except ModelError as exc:
        raise ServeError(str(exc)) from None
    names = getattr(est, "feature_names_in_", None)
    if names is not None:
        features = [str(c) for c in names]
        common["numeric"] = [c for c in features if c in set(roles.get("numeric") or [])]
        common["categorical"] = [c for c in features if c not in common["numeric"]]
    info.update(mode=mode, estimator=type(est).__name__, sha256=want or info.get("sha256"))
    return ModelAdapter(mode=mode, features=features, estimator=est, info=info, **common)




# -- a service folder: what the serving step hands to its own server process --------------------------------------
SERVICE_FILE = "service.json"


def write_folder(folder: str | Path, adapter, contract: dict, metadata: dict, *, model_path: str | None = None,
                 trusted_types=(), allow_pickle: bool = False) -> Path:
    """Write what :func:`load_folder` needs to serve ``adapter``: the baseline as ``model.skops`` (or the path of the
    user's model file), the contract and the adapter's schema. Used by the serving step, which serves the model of a
    pack still being built (or of an interactive run) in a process of its own."""
    from playbook.modeling import dump_bytes

    import skops.io as sio

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    rec = {"mode": adapter.mode, "task": adapter.task, "features": list(adapter.features),
           "numeric": list(adapter.numeric), "categorical": list(adapter.categorical),
           "classes": None if adapter.classes_ is None else _jsonable(np.asarray(adapter.classes_, dtype=object)),
           "positive_label": None if adapter.positive_label is None else
           _jsonable(np.asarray([adapter.positive_label], dtype=object))[0],
           "hashed": list(adapter.hashed), "info": {k: v for k, v in adapter.info.items()
                                                     if isinstance(v, (str, int, float, bool, type(None)))},
           "metadata": metadata}
    if adapter.mode == "baseline":
        data = dump_bytes(adapter.estimator)
        (root / "model.skops").write_bytes(data)
        rec["model_file"] = "model.skops"
        rec["trusted_types"] = sio.get_untrusted_types(data=data)
        rec["allow_pickle"] = False
    else:
        rec["model_file"] = str(Path(model_path).resolve()) if model_path else None
        rec["trusted_types"] = list(trusted_types)
        rec["allow_pickle"] = bool(allow_pickle)
    (root / "data_contract.json").write_text(json.dumps(contract, sort_keys=True), encoding="utf-8")
    (root / SERVICE_FILE).write_text(json.dumps(rec, sort_keys=True, indent=1, default=str), encoding="utf-8")
    return root


def load_folder(folder: str | Path) -> Service:
    """The :class:`Service` of a folder :func:`write_folder` wrote."""
    from playbook.modeling import ModelAdapter, ModelError, load_model_file

    root = Path(folder)
    rec = _read_json(root / SERVICE_FILE, "service record (service.json)")
    contract = _read_json(root / "data_contract.json", "data contract")
    path = rec.get("model_file")
    if not path:
        raise ServeError(f"{root}: the service record names no model file.")
    p = Path(path) if Path(path).is_absolute() else root / path
    try:
        est, _ = load_model_file(p, rec.get("trusted_types") or [], bool(rec.get("allow_pickle")))
    except ModelError as exc:
        raise ServeError(str(exc)) from None
    adapter = ModelAdapter(mode=rec["mode"], task=rec["task"], features=rec["features"], estimator=est,
                           classes_=rec.get("classes"), positive_label=rec.get("positive_label"),
                           numeric=rec.get("numeric") or [], categorical=rec.get("categorical") or [],
                           info=rec.get("info") or {}, hashed=rec.get("hashed") or [])
    return Service(pack=root, adapter=adapter, contract=contract, metadata=rec.get("metadata") or {})


__all__ = ["SERVICE_FILE", "Service", "ServeError", "contract_path", "load_folder", "load_pack", "write_folder"]
