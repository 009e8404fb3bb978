"""Serving readiness: the pack's model behind an HTTP API (``playbook serve``), with the pack's data contract at the
door, and the measurements the serving step makes of it (online / offline skew, malformed requests, latency,
resilience).

* :mod:`playbook.serving.door`: request bodies (MLflow scoring protocol) held to the data contract;
* :mod:`playbook.serving.service`: the model, contract and metadata of a finished pack;
* :mod:`playbook.serving.app`: the FastAPI application; :mod:`playbook.serving.server`: running it with uvicorn.
"""

from playbook.serving.door import RULES, Rejected, admit, parse_body
from playbook.serving.service import ServeError, Service, load_pack

__all__ = ["RULES", "Rejected", "ServeError", "Service", "admit", "load_pack", "parse_body"]
