"""Production-readiness playbook: templates, a small library and a CLI that produce an evidence pack."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_context", "Step"]


def __getattr__(name):  # lazy: keep `import playbook` (and the CLI's startup) fast
    if name == "load_context":
        from playbook.context import load_context

        return load_context
    if name == "Step":
        from playbook.results import Step

        return Step
    raise AttributeError(name)
