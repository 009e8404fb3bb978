from pathlib import Path

import pytest
import yaml

from playbook import config as C


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "pack.yaml"
    p.write_text(text)
    return p


def test_bundled_defaults_resolve_to_existing_files():
    cfg = C.load(None)
    assert Path(cfg.data.reference).exists() and Path(cfg.data.current).exists()
    assert cfg.data.target == "creditability" and cfg.name == "german-credit"


def test_relative_paths_are_relative_to_the_config(tmp_path):
    (tmp_path / "d").mkdir()
    p = write(tmp_path, "data: {reference: d/r.csv, current: d/c.csv, target: y}\n")
    cfg = C.load(p)
    assert cfg.data.reference == str((tmp_path / "d" / "r.csv").resolve())
    assert cfg.name == "pack"


@pytest.mark.parametrize("text, fragment", [
    ("data: {reference: a.csv, current: b.csv}\n", "data.target: required key missing"),
    ("data: {reference: a.csv, current: b.csv, target: y, targte: z}\n", "data.targte: unknown key"),
    ("data: {reference: a.csv, current: b.csv, target: y}\nmodle: {}\n", "modle: unknown key"),
    ("data: {reference: a.csv, current: b.csv, target: y, task: clustering}\n", "data.task"),
    ("data: {reference: a.csv, current: b.csv, target: 3}\n", "data.target: expected a string"),
    ("data: {reference: a.csv, current: b.csv, target: y}\nbusiness: {cost_false_positive: lots}\n",
     "business.cost_false_positive: expected a number"),
    ("data: {reference: a.csv, current: b.csv, target: y}\npolicy: {gates: {model.roc_auc: {minimum: 0.7}}}\n",
     "policy.gates.model.roc_auc.minimum: unknown key"),
    ("data: {reference: a.csv, current: b.csv, target: y}\nsteps: {drift_simulation: {timeout: -1}}\n",
     "steps.drift_simulation.timeout"),
    ("data: {reference: a.csv, current: b.csv, target: y}\nmodel: {allow_pickle: maybe}\n",
     "model.allow_pickle: expected true or false"),
    ("data: {reference: a.csv, current: b.csv, target: y}\nname: 'my pack!'\n", "name:"),
    ("data: [1, 2]\n", "data: expected a mapping"),
    ("data: {reference: a.csv\n", "not valid YAML"),
])
def test_bad_configs_name_the_key(tmp_path, text, fragment):
    with pytest.raises(C.ConfigError) as e:
        C.load(write(tmp_path, text))
    msg = str(e.value)
    assert fragment in msg
    assert "\n" not in msg


def test_missing_and_empty_config_files(tmp_path):
    with pytest.raises(C.ConfigError, match="config file not found"):
        C.load(tmp_path / "nope.yaml")
    with pytest.raises(C.ConfigError, match="the config is empty"):
        C.load(write(tmp_path, ""))


def test_overrides_are_typed_and_dotted(tmp_path):
    p = write(tmp_path, "data: {reference: a.csv, current: b.csv, target: y}\n")
    cfg = C.load(p, ["data.target=label", "seed=7", "steps.drift_simulation.params.trials=3",
                     "policy.gates.model.roc_auc={min: 0.8}"])
    assert cfg.data.target == "label" and cfg.seed == 7
    assert cfg.step("drift_simulation").params == {"trials": 3}
    assert cfg.policy.gates["model.roc_auc"] == {"min": 0.8}
    with pytest.raises(C.ConfigError, match="expected key=value"):
        C.load(p, ["seed"])


def test_business_costs_are_placeholders_only_when_none_is_given(tmp_path):
    assert not C.load(None).business.placeholder  # the bundled pack states its costs
    base = "data: {reference: a.csv, current: b.csv, target: y}\n"
    assert C.load(write(tmp_path, base)).business.placeholder
    assert C.load(write(tmp_path, base + "business: {volume_per_day: 50, currency: USD}\n")).business.placeholder
    assert not C.load(write(tmp_path, base + "business: {cost_false_negative: 12}\n")).business.placeholder
    assert not C.load(write(tmp_path, base + "business: {placeholder: false}\n")).business.placeholder
    cfg = C.load(write(tmp_path, base))  # the resolved config keeps the judgement when loaded again
    (tmp_path / "config.yaml").write_text(C.dump(cfg))
    assert C.load(tmp_path / "config.yaml").business.placeholder
    with pytest.raises(C.ConfigError, match="business.placeholder: expected"):
        C.load(write(tmp_path, base + "business: {placeholder: maybe}\n"))


def test_dump_round_trips(tmp_path):
    cfg = C.load(None, ["steps.data_audit.params.x=1"])
    p = tmp_path / "config.yaml"
    p.write_text(C.dump(cfg))
    again = C.load(p)
    assert again.to_dict() == cfg.to_dict()


def test_starter_config_is_valid_yaml_and_loads(tmp_path):
    text = C.STARTER.format(name="playbook.yaml")
    raw = yaml.safe_load(text)
    assert set(raw["data"]) == {"reference", "current", "target"}
    p = write(tmp_path, text)
    cfg = C.load(p)
    assert cfg.policy.gates["model.roc_auc"] == {"min": 0.7, "block": True}


def test_yaml_tags_that_build_objects_are_refused_never_run(tmp_path):
    pwn = tmp_path / "pwned"
    for text in (f"data: !!python/object/apply:os.system ['touch {pwn}']\n",
                 "data: {reference: a.csv, current: b.csv, target: !!python/name:os.system }\n"):
        with pytest.raises(C.ConfigError, match=r"the YAML tag !!python/.* is not allowed") as e:
            C.load(write(tmp_path, text))
        assert "\n" not in str(e.value)
    with pytest.raises(C.ConfigError, match="YAML tags are not allowed"):
        C.load(write(tmp_path, "data: {reference: a.csv, current: b.csv, target: y}\n"),
               [f"name=!!python/object/apply:os.system ['touch {pwn}']"])
    assert not pwn.exists()


def test_an_impossible_date_stays_text_for_the_parameter_check(tmp_path):
    cfg = C.load(write(tmp_path, "data: {reference: a.csv, current: b.csv, target: y}\n"
                                 "steps: {data_audit: {params: {run_date: 2024-13-45}}}\n"), ["seed=3"])
    assert cfg.step("data_audit").params["run_date"] == "2024-13-45"
    assert C.load(write(tmp_path, "data: {reference: a.csv, current: b.csv, target: y}\n"),
                  ["steps.data_audit.params.run_date=2024-06-30"]).step("data_audit").params["run_date"].isoformat() == "2024-06-30"


@pytest.mark.parametrize("override, fragment", [
    ("seed=-1", "seed: -1 is not a valid seed"),
    ("seed=1.5", "seed: expected a whole number"),
    ("steps.drift_simulation.timeout=ten", "steps.drift_simulation.timeout: expected a whole number"),
    ("business.volume_per_day=.inf", "business.volume_per_day: inf is not a finite number"),
])
def test_overrides_are_validated_like_the_file(tmp_path, override, fragment):
    with pytest.raises(C.ConfigError, match=fragment.replace(".", r"\.")):
        C.load(write(tmp_path, "data: {reference: a.csv, current: b.csv, target: y}\n"), [override])
