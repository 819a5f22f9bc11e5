"""Which services the embedded stack can run, and how each one's consumer is wired."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from shared.runtime.aws import Clients
from shared.runtime.service import Service


def service_builder(service: str) -> Callable[[Clients], Service] | None:
    """The service's consumer wiring, ``build(clients)``: in ``services.<name>.consumer`` when the service
    also has another face (the api's HTTP app), else ``services.<name>.app``; None when not built yet."""
    for module_name in (f"services.{service}.consumer", f"services.{service}.app"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        build = getattr(module, "build", None)
        if callable(build):
            return build  # type: ignore[no-any-return]
    return None
