"""The parameter registry: in sync with the templates, and every bad value refused in one sentence."""

import ast
import datetime as dt

import pytest

from playbook import params
from playbook.config import ConfigError
from playbook.runner import WIRING, discover, template_parameters

TEMPLATES = {t.name: template_parameters(t.path) for t in discover()}


def test_registry_names_declared_parameters_of_the_declared_type():
    assert set(params.REGISTRY) <= set(TEMPLATES)
    for step, entries in params.REGISTRY.items():
        declared = TEMPLATES[step]
        for name, spec in entries.items():
            assert name in declared, f"{step}.{name} is in the registry but not a parameter of the template"
            assert spec.type == declared[name]["inferred_type_name"], f"{step}.{name}"


def test_every_numeric_and_list_parameter_has_a_declared_range():
    for step, declared in TEMPLATES.items():
        for name, p in declared.items():
            if name in WIRING:
                continue
            if p["inferred_type_name"] in ("int", "float", "list"):
                assert name in params.REGISTRY.get(step, {}), f"steps.{step}.params.{name}: declare its range in playbook/params.py"


def test_every_template_default_satisfies_its_constraint():
    for step, declared in TEMPLATES.items():
        defaults = {n: ast.literal_eval(p["default"]) for n, p in declared.items() if n not in WIRING}
        assert params.validate(step, defaults, declared) == defaults


AUDIT = TEMPLATES["data_audit"]


@pytest.mark.parametrize("name, value, fragment", [
    ("max_categories", "50", "got the text '50'"),
    ("max_categories", 5.0, "expected a whole number"),
    ("max_categories", True, "expected a whole number, got bool"),
    ("max_categories", 0, "out of range; set it to a whole number at least 1"),
    ("max_missing_share", float("inf"), "inf is not a finite number"),
    ("max_missing_share", float("nan"), "not a finite number"),
    ("max_missing_share", 1.5, "at most 1"),
    ("max_missing_share", [0.1], "expected a number"),
    ("run_date", "2024-13-45", "'2024-13-45' is not a valid date; set it to a date YYYY-MM-DD"),
    ("run_date", "30/06/2024", "not a valid date"),
    ("run_date", "20240630", "not a date YYYY-MM-DD"),
    ("run_date", 20240630, "expected text"),
    ("missing_markers", "?", "expected a list"),
    ("missing_markers", [{"a": 1}], "missing_markers[0]"),
])
def test_bad_values_name_the_key_and_the_fix(name, value, fragment):
    with pytest.raises(params.ParamError) as e:
        params.validate("data_audit", {name: value}, AUDIT)
    msg = str(e.value)
    assert msg.startswith(f"steps.data_audit.params.{name}"), msg
    assert fragment in msg and "\n" not in msg and msg.endswith(".")
    assert isinstance(e.value, ConfigError)  # exit code 2 through the CLI


def test_yaml_dates_become_iso_text_and_good_values_pass():
    out = params.validate("data_audit", {"run_date": dt.date(2024, 6, 30), "max_categories": 7,
                                         "max_missing_share": 1}, AUDIT)
    assert out == {"run_date": "2024-06-30", "max_categories": 7, "max_missing_share": 1}


def test_list_items_choices_and_relations():
    drift = TEMPLATES["drift_simulation"]
    with pytest.raises(params.ParamError, match=r"severities\[1\]: 0 is out of range; set it to a number above 0"):
        params.validate("drift_simulation", {"severities": [0.5, 0]}, drift)
    with pytest.raises(params.ParamError, match=r"shifts\[0\]: 'mean_shfit' is not a known value; set it to one of"):
        params.validate("drift_simulation", {"shifts": ["mean_shfit"]}, drift)
    with pytest.raises(params.ParamError, match="onset: the fault must start before the last batch"):
        params.validate("drift_simulation", {"onset": 30}, drift)  # default n_batches is 30
    assert params.validate("drift_simulation", {"onset": 3, "n_batches": 8}, drift) == {"onset": 3, "n_batches": 8}
    mon = TEMPLATES["monitoring_setup"]
    with pytest.raises(params.ParamError, match="correction: 'holm' is not a known value"):
        params.validate("monitoring_setup", {"correction": "holm"}, mon)
    with pytest.raises(params.ParamError, match="start_date"):
        params.validate("monitoring_setup", {"start_date": ""}, mon)


def test_parameters_outside_the_registry_are_checked_against_their_declared_type():
    declared = {"label": {"inferred_type_name": "str", "default": "''"},
                "n": {"inferred_type_name": "int", "default": "1"}}
    assert params.validate("custom_step", {"label": "x'\n"}, declared) == {"label": "x'\n"}
    with pytest.raises(params.ParamError, match="steps.custom_step.params.n: expected a whole number"):
        params.validate("custom_step", {"n": "3"}, declared)
