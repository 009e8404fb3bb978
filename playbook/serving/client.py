"""A model behind an HTTP endpoint, called the way the evaluation calls a model in-process.

``model.endpoint: http://HOST:PORT`` in a pack config is the fourth way to bring a model (beside predictions in the
data, a model file and the baseline): :class:`EndpointModel` has the ``predict`` / ``predict_proba`` / ``classes_``
of a scikit-learn estimator and sends the rows to ``POST /invocations`` in the MLflow scoring protocol
(``dataframe_split``, values serialised exactly by :func:`playbook.serving.probe.split_body`). It understands the
answers of ``playbook serve`` (``predictions`` plus ``probabilities`` and ``classes``) and of an MLflow model server
(``predictions`` as labels or numbers, or one probability list / ``{class: probability}`` mapping per row).

A refusal at the door (4xx) raises :class:`playbook.modeling.ModelInputError` with the server's reason, exactly as an
in-process model refuses bad input; an unreachable server, a refused token or a 5xx raise
:class:`playbook.modeling.ModelError` naming ``model.endpoint`` and the fix. The bearer token is read from the
environment variable ``model.token_env`` names, and never written anywhere.

What :meth:`EndpointModel.discover` learns (a ``/metadata`` request and probe rows) is learnt once per run: the
preflight keeps :meth:`EndpointModel.discovered` in ``preflight.json``, and each step's model takes it back
(:meth:`EndpointModel.use_discovered`) instead of asking again.

The last answers are kept so that ``predict`` followed by ``predict_proba`` on the same rows costs one request; asking
the same method twice sends the rows again (the reproducibility check compares two real answers).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_BATCH = 500
TIMEOUT_S = 60.0
RECENT_ANSWERS = 64   # answers kept, so predict then predict_proba on the same rows sends them once


class EndpointModel:
    """The estimator-like face of a model server (see the module docstring)."""

    def __init__(self, url: str, features: list[str], classes: list[Any] | None = None, *,
                 token_env: str | None = None, batch: int = DEFAULT_BATCH, timeout: float = TIMEOUT_S, client=None):
        import httpx

        self.url = url.rstrip("/")
        self.features = list(features)
        self.classes_ = list(classes) if classes is not None else None
        self.batch = int(batch)
        self.has_proba = False
        self.metadata: dict = {}
        headers = {"content-type": "application/json"}
        if token_env:
            token = os.environ.get(token_env)
            if not token:
                from playbook.modeling import ModelError

                raise ModelError(f"model.token_env: the environment variable {token_env} is not set; export the "
                                 "endpoint's token in it before the run.")
            headers["authorization"] = f"Bearer {token}"
        self._auth = {k: v for k, v in headers.items() if k == "authorization"}
        self._headers, self._timeout = headers, timeout
        self._client = client or httpx.Client(base_url=self.url, timeout=timeout, headers=headers)
        if client is None:
            # a process forked for shared work (playbook.parallel) must not use the parent's connections
            import weakref

            ref = weakref.ref(self)

            def fresh_client() -> None:
                me = ref()
                if me is not None:
                    me._client = httpx.Client(base_url=me.url, timeout=timeout, headers=headers)

            os.register_at_fork(after_in_child=fresh_client)
        self._recent: OrderedDict[str, tuple[dict, set]] = OrderedDict()   # body hash -> (answer, methods served)

    def __getstate__(self) -> dict:
        """Pickled (worker processes of joblib, e.g. the permutation importance) without its connections."""
        state = dict(self.__dict__)
        state["_client"] = None
        state["_recent"] = OrderedDict()
        return state

    def __setstate__(self, state: dict) -> None:
        import httpx

        self.__dict__.update(state)
        self._client = httpx.Client(base_url=self.url, timeout=self._timeout, headers=self._headers)

    def __repr__(self) -> str:  # never the token
        return f"EndpointModel({self.url!r})"

    def auth_headers(self) -> dict:
        """The authorization header for other clients of the same server (empty without model.token_env)."""
        return dict(self._auth)

    # -- discovery ----------------------------------------------------------------------------------------------
    def discover(self, rows: pd.DataFrame) -> None:
        """Learn what the server answers (probabilities or not, its batch limit, its model hash) from ``rows``: the
        first row it admits. Raises ModelError when it admits none of them."""
        from playbook.modeling import ModelError, ModelInputError

        try:
            r = self._client.get("/metadata")
            if r.status_code == 200:
                got = r.json()
                self.metadata = got if isinstance(got, dict) else {}
        except ValueError:
            self.metadata = {}
        except Exception as exc:  # noqa: BLE001 - httpx transport errors: the server is not there
            raise _unreachable(self.url, exc) from None
        limits = self.metadata.get("limits")
        limit = limits.get("max_batch_rows") if isinstance(limits, dict) else None
        if isinstance(limit, int) and limit > 0:
            self.batch = min(self.batch, limit)
        refusals = []
        for i in range(min(len(rows), 20)):
            try:
                body = self._answer(rows.iloc[i:i + 1])
            except ModelInputError as exc:
                refusals.append(str(exc))
                continue
            # probabilities come back in the order of ``classes_`` (the config's), whatever order the server lists
            self.has_proba = self.classes_ is not None and _probabilities(body, self.classes_) is not None
            return
        raise ModelError(f"model.endpoint: {self.url} refused every row it was sent to learn its answers "
                         f"({refusals[0] if refusals else 'no rows'}); check that it serves this data's model.")

    def discovered(self) -> dict:
        """What :meth:`discover` learnt, JSON-ready: ``{probabilities, batch, sha256}``. The preflight keeps it in
        ``preflight.json`` and every step's model takes it back with :meth:`use_discovered`."""
        return {"probabilities": bool(self.has_proba), "batch": int(self.batch), "sha256": self.sha256}

    def use_discovered(self, learnt: dict) -> None:
        """Take what :meth:`discover` learnt in another process (:meth:`discovered`) instead of asking the server
        again: no ``/metadata`` request, no probe rows."""
        self.has_proba = self.classes_ is not None and bool(learnt.get("probabilities"))
        batch = learnt.get("batch")
        if isinstance(batch, int) and batch > 0:
            self.batch = min(self.batch, batch)
        sha = learnt.get("sha256")
        self.metadata = {"model": {"sha256": sha}} if isinstance(sha, str) and sha else {}

    @property
    def sha256(self) -> str | None:
        model = self.metadata.get("model")
        sha = model.get("sha256") if isinstance(model, dict) else None
        return sha if isinstance(sha, str) and sha else None

    # -- scoring ------------------------------------------------------------------------------------------------
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        bodies = self._bodies(X, "predict")
        out: list = []
        for b in bodies:
            out.extend(_labels(b, self.classes_))
        return np.asarray(out, dtype=object if self.classes_ is not None else float)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        from playbook.modeling import ModelInputError

        if self.classes_ is None:
            raise ModelInputError("the endpoint serves a regression model: it has no probabilities.")
        parts = []
        for b in self._bodies(X, "predict_proba"):
            P = _probabilities(b, self.classes_)
            if P is None:
                raise ModelInputError("the endpoint answered without probabilities; ranking and calibration need them.")
            parts.append(P)
        return np.vstack(parts) if parts else np.empty((0, len(self.classes_)))

    def admitted(self, X: pd.DataFrame) -> tuple[np.ndarray, dict]:
        """Which rows of ``X`` the server scores: ``(boolean mask, {rule: rows refused})``. A refused batch is
        halved until each refusal is pinned to its row (a server that holds requests to a data contract refuses the
        whole batch for one bad row)."""
        from playbook.modeling import ModelInputError

        keep = np.ones(len(X), dtype=bool)
        refused: dict[str, int] = {}

        def visit(lo: int, hi: int) -> None:
            try:
                self._answer(X.iloc[lo:hi], "admitted")
            except ModelInputError as exc:
                if hi - lo == 1:
                    keep[lo] = False
                    rule = getattr(exc, "rule", None) or "refused"
                    refused[rule] = refused.get(rule, 0) + 1
                    return
                mid = (lo + hi) // 2
                visit(lo, mid)
                visit(mid, hi)

        for s in range(0, len(X), self.batch):
            visit(s, min(s + self.batch, len(X)))
        return keep, dict(sorted(refused.items()))

    def close(self) -> None:
        self._client.close()

    # -- transport ----------------------------------------------------------------------------------------------
    def _bodies(self, X: pd.DataFrame, method: str) -> list[dict]:
        return [self._answer(X.iloc[s:s + self.batch], method) for s in range(0, len(X), self.batch)]

    def _answer(self, part: pd.DataFrame, method: str = "discover") -> dict:
        from playbook.modeling import ModelError, ModelInputError
        from playbook.serving.probe import split_body

        body = split_body(part, [c for c in self.features if c in part.columns])
        key = hashlib.sha256(body).hexdigest()
        seen = self._recent.get(key)
        if seen is not None and method not in seen[1]:
            seen[1].add(method)
            return seen[0]
        try:
            r = self._client.post("/invocations", content=body)
        except Exception as exc:  # noqa: BLE001 - httpx transport errors
            raise _unreachable(self.url, exc) from None
        if r.status_code in (401, 403):
            raise ModelError(f"model.endpoint: {self.url} refused the request ({r.status_code}); put its bearer token in "
                             "an environment variable and name it in model.token_env.")
        if r.status_code not in (400, 413, 422) and 400 <= r.status_code < 500:
            # 404, 405, 408, 429 ...: the server, not the rows (a rate limit must not drop rows from the evaluation)
            raise ModelError(f"model.endpoint: {self.url} answered {r.status_code} ({r.text[:200]}); check the address "
                             "(POST /invocations) and the server's limits.")
        if 400 <= r.status_code < 500:
            try:
                got = r.json() or {}
            except ValueError:
                got = {}
            why = (got.get("message") if isinstance(got, dict) else None) or r.text
            exc = ModelInputError(f"the endpoint refused the rows ({r.status_code}: {str(why)[:300]})")
            exc.rule = (got.get("rule") if isinstance(got, dict) else None) or str(r.status_code)
            raise exc
        if r.status_code != 200:
            raise ModelError(f"model.endpoint: {self.url} answered {r.status_code} ({r.text[:200]}); check the "
                             "server's log.")
        try:
            answer = r.json()
        except ValueError:
            raise ModelError(f"model.endpoint: {self.url} answered with a body that is not JSON; it must speak the "
                             "MLflow scoring protocol.") from None
        preds = answer.get("predictions") if isinstance(answer, dict) else answer
        if not isinstance(answer, dict):
            answer = {"predictions": preds}
        if not isinstance(preds, list) or len(preds) != len(part):
            raise ModelError(f"model.endpoint: {self.url} returned {len(preds) if isinstance(preds, list) else 'no'} "
                             f"predictions for {len(part)} rows; it must return one per row.")
        self._recent[key] = (answer, {method})
        self._recent.move_to_end(key)
        while len(self._recent) > RECENT_ANSWERS:
            self._recent.popitem(last=False)
        return answer


def _unreachable(url: str, exc: Exception):
    from playbook.modeling import ModelError

    return ModelError(f"model.endpoint: {url} cannot be reached ({type(exc).__name__}); start the model server or "
                      "fix the address.")


def _labels(body: dict, classes: list | None = None) -> list:
    """One prediction per row: the label (or number), or the class of the largest probability (a probability list is
    in the order of the answer's ``classes``, else of the config's, as an MLflow server lists them sorted)."""
    preds = body["predictions"]
    if preds and isinstance(preds[0], dict):
        return [max(p, key=p.get) for p in preds]
    if preds and isinstance(preds[0], list):
        order = body.get("classes") or classes
        if not order:
            from playbook.modeling import ModelError

            raise ModelError("model.endpoint: the server answered probability lists without their classes and the "
                             "task has none; it must answer labels or numbers.")
        return [order[int(np.argmax(p))] for p in preds]
    return list(preds)


def _probabilities(body: dict, classes: list) -> np.ndarray | None:
    """Probabilities in the order of ``classes``, or None when the answer has none."""
    text = [str(c) for c in classes]
    if isinstance(body.get("probabilities"), list):
        served = [str(c) for c in (body.get("classes") or classes)]
        P = np.asarray(body["probabilities"], dtype=float)
        return P[:, [served.index(c) for c in text]] if set(served) >= set(text) else None
    preds = body.get("predictions") or []
    if preds and isinstance(preds[0], dict):
        return np.asarray([[float(p.get(c, p.get(k, 0.0))) for c, k in zip(text, classes)] for p in preds])
    if preds and isinstance(preds[0], list) and len(preds[0]) == len(classes):
        served = [str(c) for c in (body.get("classes") or classes)]
        if set(served) != set(text):
            return None
        return np.asarray(preds, dtype=float)[:, [served.index(c) for c in text]]
    return None


__all__ = ["EndpointModel"]
