"""A guard against a generator trap: the schemas must not depend on what else the process evaluated first.

``typing`` caches ``Annotated`` forms by equality, and ``msgspec.Meta(ge=0, le=1)`` equals
``msgspec.Meta(ge=0.0, le=1.0)``. Whichever equal form is evaluated first in a process is the one every later
evaluation gets back, so a field's schema can print another module's bounds (``1.0`` for ``1``; git log
4377609: the report schema's confidence printed the video model's). The same code then generates different
files depending on import order: in the full test suite, in ``task schemas``, on another machine.

:func:`import_order_differences` generates every file twice, each in a fresh interpreter: once with nothing
else imported, once after importing every module of the project and evaluating the annotations of every
msgspec Struct in them (in reverse order, so the other modules' forms win the cache). Any difference is
reported with the file names; ``check`` and ``write`` fail on it. The fix is to make the two ``Meta``
objects unequal (a ``description`` of the field's own) or to write the bounds with the same types.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence

from .asyncapi import REPO_ROOT

#: the generator the guard runs: ``module:function`` returning ``{relative path: content}``
GENERATOR = "shared.events.schemas.files:generated_files"
#: the modules of the types the default generator prints: evaluated last in the "other order" run
OWN = ("shared.events",)
#: the packages whose modules are evaluated first in the "other order" run
PROJECT_PACKAGES = ("shared", "services", "shoebox_cli", "deploy.local")

_SCRIPT = """
import importlib, inspect, json, pkgutil, sys
import msgspec, msgspec.inspect

def modules(packages):
    found = []
    for name in packages:
        package = importlib.import_module(name)
        found.append(name)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            if not info.name.endswith("__main__"):  # importing one would run its command line
                found.append(info.name)
    return found

spec = json.loads(sys.argv[1])
names = spec["preload"] if not spec["packages"] else list(reversed(sorted(modules(spec["packages"]))))
# the generated types' own modules go last, so every other module's equal forms are in the cache first
own = tuple(spec["own"])
if own:
    names = [n for n in names if not n.startswith(own)] + [n for n in names if n.startswith(own)]
for name in names:
    try:
        module = importlib.import_module(name)
    except Exception:  # a module that needs what this machine lacks: it cannot pollute either
        continue
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, msgspec.Struct) and obj.__module__ == name:
            try:
                msgspec.inspect.type_info(obj)  # evaluates (and caches) its Annotated forms
            except Exception:
                pass
module_name, function = spec["generator"].split(":")
generate = getattr(importlib.import_module(module_name), function)
print(json.dumps(generate()))
"""


def generate_in_subprocess(
    *,
    preload: Sequence[str] = (),
    packages: Sequence[str] = (),
    generator: str = GENERATOR,
    own: Sequence[str] = (),
) -> dict[str, str]:
    """Run ``generator`` in a fresh interpreter after importing ``preload`` (in that order) or every module
    of ``packages`` (in reverse order, the modules starting with an ``own`` prefix last), evaluating the
    annotations of their Structs first."""
    spec = {"preload": list(preload), "packages": list(packages), "generator": generator, "own": list(own)}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(spec)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"generating in a subprocess failed:\n{done.stderr}")
    result: dict[str, str] = json.loads(done.stdout)
    return result


def import_order_differences(
    *,
    preload: Sequence[str] = (),
    packages: Sequence[str] = PROJECT_PACKAGES,
    generator: str = GENERATOR,
    own: Sequence[str] = OWN,
) -> list[str]:
    """The files a fresh process generates differently after evaluating other modules' annotations first
    (empty: the generation does not depend on import order). ``own``: the module prefixes of the generated
    types, evaluated after every other module in the second run."""
    alone = generate_in_subprocess(generator=generator)
    after = generate_in_subprocess(preload=preload, packages=packages, generator=generator, own=own)
    return sorted(rel for rel in alone.keys() | after.keys() if alone.get(rel) != after.get(rel))


def describe_import_order_differences(paths: Sequence[str]) -> str:
    """What to tell whoever runs ``check``/``write`` when :func:`import_order_differences` found some."""
    return (
        "the generated schemas depend on import order (typing caches equal Annotated forms: a "
        "msgspec.Meta equal to another module's, e.g. Meta(ge=0, le=1) and Meta(ge=0.0, le=1.0), prints "
        "whichever was evaluated first). Give the field's Meta a description of its own. Files: "
        + ", ".join(paths)
    )
