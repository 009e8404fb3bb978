"""What a template needs to start: the validated config, the data and the column roles.

A notebook's first code cell after its parameters is typically::

    import playbook
    ctx = playbook.load_context(config, pack_dir=pack_dir)
    step = ctx.step("data_audit", output_dir)

``config`` is the path of a pack config YAML (``playbook run`` passes the resolved one it wrote into
the pack); an empty string means the bundled German credit data, so every template runs with zero
setup in JupyterLab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from playbook import config as config_mod
from playbook import privacy as privacy_mod
from playbook.data import DataError, Roles, load_table, resolve_roles
from playbook.results import Step, load_results


@dataclass
class Context:
    config: config_mod.PackConfig
    reference: pd.DataFrame
    current: pd.DataFrame
    roles: Roles
    pack_dir: Path | None = None
    #: the privacy scan of reference and current (computed once per pack, read from its ``privacy.json``; set by
    #: :meth:`build`; a context made by hand without it is scanned on use, see :func:`playbook.privacy.privacy_of`)
    privacy: privacy_mod.PrivacyScan | None = None
    #: the whole of each dataset as DuckDB scans it (:class:`playbook.tables.Table`); ``reference`` / ``current``
    #: are these tables, or a seeded sample of ``data.max_rows`` rows of them (see ``sampling``)
    tables: dict[str, Any] = field(default_factory=dict)
    #: per dataset: None when the frame holds every row, else ``{rows, sample, seed}``
    sampling: dict[str, dict | None] = field(default_factory=dict)
    #: the pack's preflight facts (``preflight.json``) when the context belongs to a run (:mod:`playbook.preflight`)
    facts: dict | None = None
    #: the model the steps judge, as :func:`playbook.modeling.get_model` loaded it: ``{mode, sha256, ...}``
    model_record: dict | None = None
    _steps: list = field(default_factory=list, repr=False)

    # convenient shortcuts -------------------------------------------------------------------
    @property
    def target(self) -> str:
        return self.roles.target

    @property
    def task(self) -> str:
        return self.roles.task

    @property
    def features(self) -> list[str]:
        return self.roles.features

    @property
    def numeric_features(self) -> list[str]:
        return self.roles.numeric

    @property
    def categorical_features(self) -> list[str]:
        return self.roles.categorical

    @property
    def positive_label(self) -> Any:
        return self.roles.positive_label

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def policy(self) -> config_mod.PolicySettings:
        return self.config.policy

    @property
    def business(self) -> config_mod.BusinessSettings:
        return self.config.business

    @property
    def model(self) -> config_mod.ModelSettings:
        return self.config.model

    def params(self, step: str) -> dict:
        """The notebook parameters the config sets for a step."""
        return dict(self.config.step(step).params)

    def step(self, name: str, output_dir: str | Path | None = "") -> Step:
        """The results recorder for this step (writes into output_dir, or evidence/_interactive). It judges each
        check under the gate the policy puts in force for it."""
        step = Step(name, output_dir or None, policy=self.config.policy)
        self._steps.append(step)
        self._note_model(step)
        if any(self.sampling.values()):
            step.note("data_sample", {k: v for k, v in self.sampling.items() if v})
        return step

    def table(self, role: str):
        """The whole of a dataset ("reference" or "current") as a :class:`playbook.tables.Table`."""
        t = self.tables.get(role)
        if t is None:
            from playbook.tables import Table

            t = self.tables[role] = Table.from_frame(getattr(self, role), role)
        return t

    def use_model(self, record: dict) -> None:
        """Record the model the steps judge (called by :func:`playbook.modeling.get_model`): each step of this
        context notes it in its ``info.model_used``, so a pack shows one model hash across its steps."""
        self.model_record = dict(record)
        for step in self._steps:
            self._note_model(step)

    def _note_model(self, step: Step) -> None:
        if self.model_record is not None:
            step.note("model_used", self.model_record)

    # gates -------------------------------------------------------------------------------------
    def gate(self, check_id: str) -> dict | None:
        """The gate in force for a check id (:func:`playbook.catalogue.gate_for`)."""
        from playbook.catalogue import gate_for

        return gate_for(check_id, self.config.policy)

    def limit(self, check_id: str, key: str, default: float | None) -> float | None:
        """The bound ``key`` ("min" / "max") the gate in force sets for a check, else ``default``."""
        from playbook.catalogue import limit

        return limit(check_id, key, default, self.config.policy)

    # earlier steps -----------------------------------------------------------------------------
    def _step_dirs(self) -> dict[str, Path]:
        if self.pack_dir is None:
            return {}
        steps = self.pack_dir / "steps"
        out = {}
        if steps.is_dir():
            for d in sorted(steps.iterdir()):
                if d.is_dir() and "_" in d.name:
                    out[d.name.split("_", 1)[1]] = d
        return out

    def step_dir(self, name: str) -> Path | None:
        """Folder of an earlier step in this pack; in interactive use, its evidence/_interactive run."""
        d = self._step_dirs().get(name)
        if d is not None:
            return d
        if self.pack_dir is None:
            from playbook.results import interactive_dir

            cand = interactive_dir(name)
            return cand if cand.exists() else None
        return None

    def previous(self, name: str) -> dict | None:
        """results.json of an earlier step, or None when it did not run."""
        d = self.step_dir(name)
        return load_results(d) if d else None

    def previous_artifact(self, name: str, relpath: str) -> Path | None:
        """Path of an artifact an earlier step wrote (None when absent)."""
        d = self.step_dir(name)
        if d is None:
            return None
        p = d / "artifacts" / relpath
        return p if p.exists() else None

    @classmethod
    def build(cls, cfg: config_mod.PackConfig, reference: pd.DataFrame, current: pd.DataFrame,
              pack_dir: str | Path | None = None, *, roles: Roles | None = None, tables: dict | None = None,
              sampling: dict | None = None) -> "Context":
        """Resolve the column roles, take the privacy scan (the pack's stored one when ``pack_dir`` holds it) and
        apply the privacy policy to the roles. ``roles`` given (as the preflight resolved them) are used as they
        are."""
        resolved = roles is None
        roles = resolve_roles(reference, current, cfg.data) if resolved else roles
        pack = Path(pack_dir).resolve() if pack_dir else None
        try:
            scan = privacy_mod.for_data(cfg, reference, current, pack, skip=_role_columns(roles),
                                        same_data=not resolved and pack is not None)
        except privacy_mod.PrivacySettingsError as exc:
            raise config_mod.ConfigError(str(exc)) from None
        ctx = cls(config=cfg, reference=reference, current=current, roles=roles, pack_dir=pack, privacy=scan,
                  tables=dict(tables or {}), sampling=dict(sampling or {}))
        if resolved:
            _exclude_protected_features(ctx)
        return ctx


def _role_columns(roles: Roles) -> list[str]:
    """Columns with a role other than feature: never identifiers by shape (the target, timestamp, outputs)."""
    out = [roles.target]
    if roles.timestamp:
        out.append(roles.timestamp)
    if roles.prediction:
        out.append(roles.prediction)
    if roles.probability:
        out += [roles.probability] if isinstance(roles.probability, str) else list(roles.probability)
    return [str(c) for c in out]


def _exclude_protected_features(ctx: Context) -> None:
    """Protected columns (flagged as personal data, or identifiers by shape) are not model features by default.

    A model fitted on names, e-mail addresses or customer codes stores them (in its encoders) and spreads them into
    every artifact built from the features (model files, monitoring bins, dashboards). A protected column that
    ``data.features`` lists explicitly is used, and recorded in ``roles.pii_used`` (the governance step warns and
    names it); ``policy.allow_raw_pii`` keeps every column. The exclusion is recorded in ``roles.pii_excluded``.
    """
    cfg = ctx.config
    r = ctx.roles
    protected = set(ctx.privacy.protected) & set(r.features)
    if not protected:
        return
    if cfg.policy.allow_raw_pii:
        r.pii_used = sorted(protected)
        return
    listed = set(cfg.data.features or [])
    r.pii_used = sorted(protected & listed)
    drop = protected - listed
    if not drop:
        return
    r.features = [c for c in r.features if c not in drop]
    r.numeric = [c for c in r.numeric if c not in drop]
    r.categorical = [c for c in r.categorical if c not in drop]
    r.pii_excluded = sorted(drop)
    if not r.features:
        raise DataError(
            f"data.features: every feature column holds personal data or identifies rows ({', '.join(sorted(drop))}); "
            "list the columns to use in data.features, or set policy.allow_raw_pii: true if that is intended."
        )


def load_context(config: str | Path | dict | None = "", pack_dir: str | Path | None = "",
                 overrides: list[str] | None = None) -> Context:
    """Load the pack config and its data. ``config`` may be a path, "" (bundled data) or a mapping.

    Inside ``playbook run`` (``pack_dir`` is the pack being built) the data, roles, privacy scan and model come
    from the run's preflight (:mod:`playbook.preflight`): nothing is parsed, resolved or fitted again."""
    if isinstance(config, dict):
        cfg = config_mod.from_dict(config, base=Path.cwd())
    elif config:
        cfg = config_mod.load(Path(config), overrides)
    else:
        cfg = config_mod.load(None, overrides)
    from playbook import preflight

    facts = preflight.read(pack_dir) if pack_dir else None
    stored = preflight.stored_frames(pack_dir, cfg) if facts else None
    if stored is not None:
        ref, cur = stored["reference"]["frame"], stored["current"]["frame"]
        ctx = Context.build(cfg, ref, cur, pack_dir, roles=preflight.roles_from(facts, ref),
                            tables={r: stored[r]["table"] for r in stored},
                            sampling={r: stored[r]["sampling"] for r in stored})
        ctx.facts = facts
        return ctx
    frames, tables, sampling = {}, {}, {}
    from playbook.tables import Table

    for role in ("reference", "current"):
        whole = load_table(getattr(cfg.data, role), role)
        tables[role] = Table.from_frame(whole, role)
        frames[role] = tables[role].sample(cfg.data.max_rows, seed=cfg.seed)
        sampling[role] = ({"rows": len(whole), "sample": len(frames[role]), "seed": cfg.seed}
                          if len(whole) > len(frames[role]) else None)
    return Context.build(cfg, frames["reference"], frames["current"], pack_dir, tables=tables, sampling=sampling)
