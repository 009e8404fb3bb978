"""Pack configuration: YAML in, validated typed settings out.

Every problem raises :class:`ConfigError` whose message is one sentence naming the key (or file)
and the fix. Paths are resolved relative to the config file. Only ``data.reference``,
``data.current`` and ``data.target`` are required; ``playbook run`` with no config uses the bundled
German credit data (see :data:`BUNDLED`).
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from playbook.paths import dataset_dir


class ConfigError(ValueError):
    """Bad input in the pack config: the message names the key and the fix."""


TASKS = ("binary", "multiclass", "regression")
MODEL_TRAIN = ("baseline", "none")

# The default config: the bundled German credit data (see datasets/german_credit/DATASHEET.md).
BUNDLED = {
    "name": "german-credit",
    "data": {
        "reference": "german_credit/reference.csv",
        "current": "german_credit/current.csv",
        "target": "creditability",
        "positive_label": "bad",
        "sensitive": ["personal_status_and_sex", "age_in_years"],
    },
    "business": {
        "cost_false_positive": 1.0,
        "cost_false_negative": 5.0,
        "value_true_positive": 0.0,
        "value_true_negative": 1.0,
        "volume_per_day": 200,
    },
}


@dataclass
class DataSettings:
    reference: str
    current: str
    target: str
    task: str | None = None
    positive_label: Any = None
    prediction: str | None = None
    probability: str | list[str] | None = None
    timestamp: str | None = None
    id: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    features: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    #: rows of each dataset the steps hold in memory: above it they work on a seeded sample of this many rows (the
    #: audit's statistics still cover every row, see playbook.tables); the pack records the sample
    max_rows: int = 1_000_000


#: Smallest ``data.max_rows`` accepted (fewer rows leave too little for the held-out measurements).
MIN_MAX_ROWS = 1000


@dataclass
class ModelSettings:
    path: str | None = None
    trusted_types: list[str] = field(default_factory=list)
    allow_pickle: bool = False
    train: str | None = None  # "baseline" | "none"; None -> decided from data/model
    endpoint: str | None = None  # an MLflow-protocol server that scores the rows (http://HOST:PORT)
    token_env: str | None = None  # the environment variable holding the endpoint's bearer token
    # a second model judged on the same rows in the evaluation step (playbook.evaluate.challenger):
    # {path: FILE[, trusted_types, allow_pickle]} | {train: baseline} | {prediction: COL[, probability: COL(S)]}
    challenger: dict | None = None


@dataclass
class BusinessSettings:
    cost_false_positive: float = 1.0
    cost_false_negative: float = 5.0
    value_true_positive: float = 0.0
    value_true_negative: float = 0.0
    volume_per_day: float = 1000.0
    compute_cost_per_1k: float = 0.0
    currency: str = "EUR"
    # True: no cost or value was given, so these are the playbook's placeholder amounts and the business value is
    # reported (warn), not gated; resolved when the config is loaded (any cost or value given -> False)
    placeholder: bool = False


@dataclass
class ServingSettings:
    """The serving step's service-level objectives and, optionally, an endpoint to test instead of the pack's own
    server (``serving.endpoint: http://host:port``)."""

    max_p99_ms: float | None = None   # p99 latency of one-row requests at every concurrency (given: a blocking gate)
    min_rps: float | None = None      # one-row requests per second at the best concurrency (given: a blocking gate)
    endpoint: str | None = None   # an MLflow-protocol server already running (the step then starts none)


@dataclass
class PolicySettings:
    allow_raw_pii: bool = False
    gates: dict[str, dict] = field(default_factory=dict)
    use_default_gates: bool = True
    attestations: dict[str, dict] = field(default_factory=dict)
    privacy: dict[str, Any] = field(default_factory=dict)  # the privacy scan's settings (playbook.privacy.scan)
    promotion: dict[str, Any] = field(default_factory=dict)  # `playbook compare`'s recommendation (playbook.compare.policy)


#: Seconds a whole step may run before the runner stops it (``steps.<name>.timeout``).
DEFAULT_STEP_TIMEOUT = 3600


@dataclass
class StepSettings:
    enabled: bool = True
    timeout: int = DEFAULT_STEP_TIMEOUT
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class PackConfig:
    data: DataSettings
    model: ModelSettings = field(default_factory=ModelSettings)
    business: BusinessSettings = field(default_factory=BusinessSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    serving: ServingSettings = field(default_factory=ServingSettings)
    steps: dict[str, StepSettings] = field(default_factory=dict)
    name: str = "pack"
    seed: int = 0
    source: str | None = None  # the file it was loaded from (None = bundled defaults)
    previous: str | None = None  # an earlier pack to compare with (`playbook run --previous PACK`)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source", None)
        return d

    def step(self, name: str) -> StepSettings:
        return self.steps.get(name) or StepSettings()


#: the keys whose presence makes the business section the user's own (not placeholders)
_BUSINESS_AMOUNTS = ("cost_false_positive", "cost_false_negative", "value_true_positive", "value_true_negative")

_SECTIONS = {
    "data": DataSettings,
    "model": ModelSettings,
    "business": BusinessSettings,
    "policy": PolicySettings,
    "serving": ServingSettings,
}
_TOP_KEYS = {"name", "seed", "steps", "previous", *_SECTIONS}
_STEP_KEYS = {"enabled", "timeout", "params"}
_GATE_KEYS = {"min", "max", "block", "status", "on"}


class _Loader(yaml.SafeLoader):
    """``yaml.safe_load`` (plain data only: a tag that builds Python objects is refused), except that a date that
    does not exist (``2024-13-45``) stays text, so the key it belongs to can be named in the error."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def safe_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


def _type_name(t: Any) -> str:
    return {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
            list: "a list", dict: "a mapping"}.get(t, str(t))


def _expect(key: str, value: Any, *types: type, allow_none: bool = True) -> Any:
    if value is None and allow_none:
        return None
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if bool not in types and isinstance(value, bool):
        raise ConfigError(f"{key}: expected {' or '.join(_type_name(t) for t in types)}, got {value!r}; fix the value in the config.")
    if not isinstance(value, types):
        raise ConfigError(
            f"{key}: expected {' or '.join(_type_name(t) for t in types)}, got {type(value).__name__} {value!r}; fix the value in the config."
        )
    return value


def _str_list(key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a column name or a list of column names, got {value!r}.")
    return list(value)


def _check_keys(section: str, raw: dict, allowed: set[str]) -> None:
    for k in raw:
        if k not in allowed:
            hint = ""
            close = [a for a in sorted(allowed) if a.startswith(str(k)[:3])]
            if close:
                hint = f" (did you mean {close[0]!r}?)"
            where = f"{section}.{k}" if section else str(k)
            raise ConfigError(
                f"{where}: unknown key{hint}; allowed keys{' in ' + section if section else ''} are: {', '.join(sorted(allowed))}."
            )


def resolve_path(value: str, base: Path | None) -> str:
    """Resolve a data path: absolute stays, relative is against the config's folder;
    bundled defaults (base None) resolve against the datasets folder."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return str(p)
    root = base if base is not None else dataset_dir()
    return str((root / p).resolve())


def _promotion_settings(raw: Any) -> dict:
    """``policy.promotion``, validated by the comparison's policy (one sentence naming the key on a mistake)."""
    from playbook.compare.policy import PromotionPolicyError, validate

    try:
        return validate(raw)
    except PromotionPolicyError as exc:
        raise ConfigError(str(exc)) from None


def _privacy_settings(raw: Any) -> dict:
    """``policy.privacy``, validated by the privacy layer (one sentence naming the key on a mistake)."""
    from playbook.privacy.scan import PrivacySettings, PrivacySettingsError

    raw = _expect("policy.privacy", raw, dict) or {}
    try:
        PrivacySettings.from_mapping(raw)
    except PrivacySettingsError as exc:
        raise ConfigError(str(exc)) from None
    return dict(raw)


_CHALLENGER_KEYS = ("path", "trusted_types", "allow_pickle", "train", "prediction", "probability")


def _challenger(raw: Any, base: Path | None) -> dict | None:
    """``model.challenger``: exactly one way to bring the second model (a file, the baseline, predictions)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("model.challenger: expected a mapping such as {path: challenger.skops}, {train: baseline} "
                          "or {prediction: challenger_pred}.")
    _check_keys("model.challenger", raw, set(_CHALLENGER_KEYS))
    ways = [k for k in ("path", "train", "prediction") if raw.get(k) is not None]
    if raw.get("probability") is not None and "prediction" not in ways:
        ways.append("prediction")
    if len(ways) != 1:
        raise ConfigError("model.challenger: give exactly one of path (a model file), train: baseline, or "
                          "prediction / probability (its outputs in the data).")
    out: dict[str, Any] = {}
    if "path" in ways:
        out["path"] = resolve_path(_expect("model.challenger.path", raw["path"], str), base)
        out["trusted_types"] = _str_list("model.challenger.trusted_types", raw.get("trusted_types"))
        out["allow_pickle"] = bool(_expect("model.challenger.allow_pickle", raw.get("allow_pickle", False), bool))
    elif "train" in ways:
        if raw["train"] != "baseline":
            raise ConfigError(f"model.challenger.train: {raw['train']!r} is not supported; use baseline.")
        out["train"] = "baseline"
    else:
        if raw.get("prediction") is not None:
            out["prediction"] = _expect("model.challenger.prediction", raw["prediction"], str)
        prob = raw.get("probability")
        if prob is not None:
            out["probability"] = [prob] if isinstance(prob, str) else _str_list("model.challenger.probability", prob)
    return out


def _endpoint(key: str, value: str | None) -> str | None:
    """A server address ``http(s)://HOST[:PORT]`` without its trailing slash, or None."""
    if not value:
        return None
    if "@" in value.split("//", 1)[-1].split("/", 1)[0]:
        raise ConfigError(f"{key}: the address holds credentials (user:password@); remove them and put the token in "
                          "an environment variable named by model.token_env, so that it never enters the pack.")
    if not re.fullmatch(r"https?://[^\s/]+(:\d+)?/?", value):
        raise ConfigError(f"{key}: {value!r} is not a server address; give http://HOST:PORT (the server answering "
                          "POST /invocations).")
    return value.rstrip("/")


def _max_rows(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_MAX_ROWS:
        raise ConfigError(f"data.max_rows: {value!r} is not a row count of at least {MIN_MAX_ROWS}; give the rows each "
                          "step may hold in memory, e.g. 1000000.")
    return int(value)


def from_dict(raw: dict | None, base: Path | None = None, source: str | None = None) -> PackConfig:
    """Validate a raw mapping into a :class:`PackConfig`. ``base`` is the config's folder."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source or 'config'}: the top level must be a mapping of sections (data, model, ...), got {type(raw).__name__}.")
    _check_keys("", raw, _TOP_KEYS)

    data_raw = raw.get("data")
    if data_raw is None:
        raise ConfigError("data: section missing; add data.reference, data.current and data.target.")
    _expect("data", data_raw, dict)
    _check_keys("data", data_raw, set(DataSettings.__dataclass_fields__))
    for req in ("reference", "current", "target"):
        if data_raw.get(req) in (None, ""):
            raise ConfigError(f"data.{req}: required key missing; set it to {'a CSV or parquet path' if req != 'target' else 'the name of the label column'}.")
    d = {}
    for k in ("reference", "current", "target", "prediction", "timestamp", "task"):
        d[k] = _expect(f"data.{k}", data_raw.get(k), str)
    if d["task"] is not None and d["task"] not in TASKS:
        raise ConfigError(f"data.task: {d['task']!r} is not a task; use one of {', '.join(TASKS)} or leave it out to infer it.")
    prob = data_raw.get("probability")
    if prob is not None and not isinstance(prob, str):
        prob = _str_list("data.probability", prob)
    pos = data_raw.get("positive_label")
    if pos is not None and not isinstance(pos, (str, int, float, bool)):
        raise ConfigError(f"data.positive_label: expected a single class label, got {pos!r}.")
    features = data_raw.get("features")
    data = DataSettings(
        reference=resolve_path(d["reference"], base),
        current=resolve_path(d["current"], base),
        target=d["target"],
        task=d["task"],
        positive_label=pos,
        prediction=d["prediction"],
        probability=prob,
        timestamp=d["timestamp"],
        id=_str_list("data.id", data_raw.get("id")),
        sensitive=_str_list("data.sensitive", data_raw.get("sensitive")),
        features=None if features is None else _str_list("data.features", features),
        exclude=_str_list("data.exclude", data_raw.get("exclude")),
        max_rows=_max_rows(data_raw.get("max_rows", DataSettings.max_rows)),
    )

    model_raw = _expect("model", raw.get("model"), dict) or {}
    _check_keys("model", model_raw, set(ModelSettings.__dataclass_fields__))
    mpath = _expect("model.path", model_raw.get("path"), str)
    train = _expect("model.train", model_raw.get("train"), str)
    if train is not None and train not in MODEL_TRAIN:
        raise ConfigError(f"model.train: {train!r} is not supported; use one of {', '.join(MODEL_TRAIN)}.")
    if mpath and train == "baseline":
        raise ConfigError("model: set either model.path or model.train: baseline, not both.")
    m_endpoint = _endpoint("model.endpoint", _expect("model.endpoint", model_raw.get("endpoint"), str))
    if m_endpoint and (mpath or train == "baseline"):
        raise ConfigError("model: set one of model.path, model.endpoint or model.train: baseline, not several.")
    token_env = _expect("model.token_env", model_raw.get("token_env"), str)
    if token_env and not m_endpoint:
        raise ConfigError("model.token_env: names the endpoint's token, but no model.endpoint is set; set "
                          "model.endpoint or remove model.token_env.")
    if token_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token_env):
        raise ConfigError(f"model.token_env: {token_env!r} is not an environment variable name; give a name such as "
                          "MODEL_TOKEN (the token itself never goes in the config).")
    challenger = _challenger(model_raw.get("challenger"), base)
    if challenger:  # the challenger's outputs in the data are no feature of either model
        own = [c for c in [challenger.get("prediction"), *(challenger.get("probability") or [])] if c]
        data.exclude = list(data.exclude) + [c for c in own if c not in data.exclude]
    model = ModelSettings(
        challenger=challenger,
        path=resolve_path(mpath, base) if mpath else None,
        trusted_types=_str_list("model.trusted_types", model_raw.get("trusted_types")),
        allow_pickle=bool(_expect("model.allow_pickle", model_raw.get("allow_pickle", False), bool)),
        train=train,
        endpoint=m_endpoint,
        token_env=token_env,
    )

    bus_raw = _expect("business", raw.get("business"), dict) or {}
    _check_keys("business", bus_raw, set(BusinessSettings.__dataclass_fields__))
    bus_kwargs = {}
    import math

    for k in BusinessSettings.__dataclass_fields__:
        if k == "placeholder":
            continue
        if k in bus_raw:
            t = str if k == "currency" else float
            bus_kwargs[k] = _expect(f"business.{k}", bus_raw[k], t, allow_none=False)
            if t is float and not math.isfinite(bus_kwargs[k]):
                raise ConfigError(f"business.{k}: {bus_raw[k]!r} is not a finite number; give an amount such as 1.0.")
    if "placeholder" in bus_raw:
        bus_kwargs["placeholder"] = _expect("business.placeholder", bus_raw["placeholder"], bool, allow_none=False)
    else:
        bus_kwargs["placeholder"] = not any(k in bus_raw for k in _BUSINESS_AMOUNTS)
    business = BusinessSettings(**bus_kwargs)
    if business.volume_per_day < 0:
        raise ConfigError("business.volume_per_day: must be zero or more.")

    pol_raw = _expect("policy", raw.get("policy"), dict) or {}
    _check_keys("policy", pol_raw, set(PolicySettings.__dataclass_fields__))
    gates_raw = _expect("policy.gates", pol_raw.get("gates"), dict) or {}
    gates = {}
    from playbook.catalogue import validate_gate

    for gid, g in gates_raw.items():
        key = f"policy.gates.{gid}"
        if isinstance(g, bool):
            g = {"block": g}
        _expect(key, g, dict, allow_none=False)
        _check_keys(key, g, _GATE_KEYS)
        for bound in ("min", "max"):
            if bound in g:
                _expect(f"{key}.{bound}", g[bound], float, allow_none=False)
                g[bound] = float(g[bound])
        if "block" in g:
            _expect(f"{key}.block", g["block"], bool, allow_none=False)
        problem = validate_gate(str(gid), g)
        if problem:
            raise ConfigError(f"{key}: {problem}.")
        gates[str(gid)] = dict(g)
    att_raw = _expect("policy.attestations", pol_raw.get("attestations"), dict) or {}
    from playbook.governance.mltestscore import TESTS_BY_ID, normalize_test_id

    for aid, a in att_raw.items():
        key = f"policy.attestations.{aid}"
        if normalize_test_id(str(aid)) is None:
            raise ConfigError(f"{key}: not an ML Test Score test; use a test id such as data_6, model_3, infra_6 "
                              f"or infra_7 (the 28 ids: {', '.join(TESTS_BY_ID)}).")
        _expect(key, a, dict, allow_none=False)
        _check_keys(key, a, {"owner", "link", "note"})
        if not a.get("owner") or not a.get("link"):
            raise ConfigError(f"{key}: an attestation needs both an owner and a link to its evidence.")
    policy = PolicySettings(
        allow_raw_pii=bool(_expect("policy.allow_raw_pii", pol_raw.get("allow_raw_pii", False), bool)),
        gates=gates,
        use_default_gates=bool(_expect("policy.use_default_gates", pol_raw.get("use_default_gates", True), bool)),
        attestations={str(k): dict(v) for k, v in att_raw.items()},
        privacy=_privacy_settings(pol_raw.get("privacy")),
        promotion=_promotion_settings(pol_raw.get("promotion")),
    )

    srv_raw = _expect("serving", raw.get("serving"), dict) or {}
    _check_keys("serving", srv_raw, set(ServingSettings.__dataclass_fields__))
    srv_kwargs: dict[str, Any] = {}
    for k in ("max_p99_ms", "min_rps"):
        if srv_raw.get(k) is not None:
            v = _expect(f"serving.{k}", srv_raw[k], float, allow_none=False)
            if not math.isfinite(float(v)) or float(v) <= 0:
                raise ConfigError(f"serving.{k}: {srv_raw[k]!r} must be a positive number (e.g. 250 ms or 50 requests/s).")
            srv_kwargs[k] = float(v)
    endpoint = _endpoint("serving.endpoint", _expect("serving.endpoint", srv_raw.get("endpoint"), str))
    if endpoint:
        srv_kwargs["endpoint"] = endpoint
    serving = ServingSettings(**srv_kwargs)

    steps_raw = _expect("steps", raw.get("steps"), dict) or {}
    steps = {}
    for sname, s in steps_raw.items():
        key = f"steps.{sname}"
        if s is None:
            s = {}
        if isinstance(s, bool):
            s = {"enabled": s}
        _expect(key, s, dict, allow_none=False)
        _check_keys(key, s, _STEP_KEYS)
        timeout = _expect(f"{key}.timeout", s.get("timeout", DEFAULT_STEP_TIMEOUT), int, allow_none=False)
        if timeout <= 0:
            raise ConfigError(f"{key}.timeout: must be a positive number of seconds.")
        params = _expect(f"{key}.params", s.get("params"), dict) or {}
        steps[str(sname)] = StepSettings(
            enabled=bool(_expect(f"{key}.enabled", s.get("enabled", True), bool)),
            timeout=timeout,
            params=params,
        )

    name = _expect("name", raw.get("name"), str) or (Path(source).stem if source else "pack")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ConfigError(f"name: {name!r} must be letters, digits, '.', '_' or '-' (it names the pack folder).")
    seed = _expect("seed", raw.get("seed", 0), int, allow_none=False)
    if not 0 <= seed < 2 ** 32:
        raise ConfigError(f"seed: {seed} is not a valid seed; use a whole number from 0 to {2 ** 32 - 1}.")
    previous = _expect("previous", raw.get("previous"), str)
    if previous:
        previous = resolve_path(previous, base if base is not None else Path.cwd())
    return PackConfig(data=data, model=model, business=business, policy=policy, serving=serving, steps=steps,
                      name=name, seed=seed, source=source, previous=previous)


def set_dotted(raw: dict, dotted: str, value: Any) -> None:
    """Apply a ``-p key.sub=value`` override onto a raw config mapping."""
    parts = dotted.split(".")
    if len(parts) > 3 and parts[0] == "policy" and parts[1] in ("gates", "attestations"):
        parts = parts[:2] + [".".join(parts[2:])]  # check ids contain dots themselves
    if not all(parts):
        raise ConfigError(f"-p {dotted}: the key must be dotted names like data.target or steps.drift_simulation.params.trials.")
    node = raw
    for p in parts[:-1]:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"-p {dotted}: {p!r} is not a section, so it cannot hold {parts[-1]!r}.")
        node = nxt
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"-p {text}: expected key=value, for example -p data.target=label.")
    key, _, val = text.partition("=")
    try:
        parsed = safe_load(val) if val != "" else ""
    except yaml.constructor.ConstructorError:
        raise ConfigError(f"-p {text}: YAML tags are not allowed in a value (a config holds plain data); remove the tag.") from None
    except yaml.YAMLError:
        parsed = val
    return key.strip(), parsed


def load_raw(path: str | Path | None) -> tuple[dict, Path | None, str | None]:
    """Read the YAML (or the bundled defaults when path is None). Returns (raw, base, source)."""
    if path in (None, ""):
        return copy.deepcopy(BUNDLED), None, None
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(f"{path}: config file not found; check the path or run `playbook init` to write a starter config.")
    if p.is_dir():
        raise ConfigError(f"{path}: is a folder, not a config file; pass the YAML file (e.g. {p / 'playbook.yaml'}).")
    try:
        raw = safe_load(p.read_text(encoding="utf-8"))
    except yaml.constructor.ConstructorError as exc:
        # safe_load never builds Python objects: a tag such as !!python/object/apply is refused, not run
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        tag = re.search(r"tag '([^']+)'", str(getattr(exc, "problem", "")))
        shown = tag.group(1).replace("tag:yaml.org,2002:", "!!") if tag else "a custom tag"
        raise ConfigError(f"{path}: the YAML tag {shown}{where} is not allowed (a config holds plain data; tags that "
                          "build objects are refused, never run); remove the tag.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}; fix the syntax ({problem}).") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file; pass a YAML config.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc}); check the file's permissions.") from None
    if raw is None:
        raise ConfigError(f"{path}: the config is empty; it needs at least data.reference, data.current and data.target.")
    return raw, p.resolve().parent, str(p.resolve())


def load(path: str | Path | None = None, overrides: list[str] | None = None) -> PackConfig:
    """Load, apply ``key=value`` overrides and validate a pack config."""
    raw, base, source = load_raw(path)
    for text in overrides or []:
        key, value = parse_override(text)
        set_dotted(raw, key, value)
    return from_dict(raw, base=base, source=source)


def dump(cfg: PackConfig) -> str:
    """The resolved config as YAML (absolute paths), stored in the pack as config.yaml."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=True, allow_unicode=True)


STARTER = """\
# Readiness playbook pack config. Only data.reference, data.current and data.target are required.
# Paths are relative to this file. Run:  playbook run {name}
name: my-model                    # names the pack folder under --out (default ./evidence)
seed: 0                           # every random choice in the pack derives from this

data:
  reference: data/reference.csv   # REQUIRED: training / reference data, CSV or parquet (file or folder)
  current: data/current.csv       # REQUIRED: recent production-like data, same columns
  target: label                   # REQUIRED: the column to predict
  # task: binary                  # binary | multiclass | regression; inferred when absent
  # positive_label: "1"           # binary: the class that is the event of interest
  # prediction: pred              # model outputs already in the data (predictions mode)
  # probability: proba            # one column, or a list of columns for multiclass
  # timestamp: event_time         # enables freshness / staleness checks
  # id: [customer_id]             # identifier columns: checked for duplicates, never used as features
  # sensitive: [sex, age_band]    # fairness is assessed across these columns
  # exclude: [free_text_notes]    # columns not to use as model features
  # max_rows: 1000000             # rows per dataset the steps hold in memory; larger data: a seeded sample
                                  # (the audit's statistics still cover every row)

# model:                          # absent: predictions mode if data.prediction/probability is set,
#   path: model.skops             #   else a baseline model is trained on the reference data
#   trusted_types: []             # extra types skops may load (review them first)
#   allow_pickle: false           # pickle/joblib files run code when loaded: refused unless true
#   train: baseline

business:                         # what a decision is worth: drives the business threshold. These amounts
                                  #   are examples: put your own. Stated costs gate the release (no value
                                  #   shown over the best trivial policy is a no-go); without any cost or
                                  #   value here the business value is only reported.
  cost_false_positive: 1.0
  cost_false_negative: 5.0
  value_true_positive: 0.0
  value_true_negative: 0.0
  volume_per_day: 1000
  currency: EUR

policy:
  allow_raw_pii: false            # true lets raw PII values into the pack (recorded in the pack)
  gates:                          # check id -> bounds and whether a failure blocks the release
    model.roc_auc: {{min: 0.7, block: true}}
    # data.leakage.single_feature: {{block: true}}

# steps:                          # per step: enabled, timeout (s), notebook parameters
#   drift_simulation: {{enabled: true, timeout: 600, params: {{trials: 20}}}}
"""
