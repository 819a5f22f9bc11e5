"""The code keeps its shape: no module reaches into another's private names, and no product module grows
past the size one person can hold in their head.

Both checks read the source (``ast`` for Python, line counts for everything), so they run in
milliseconds and need nothing imported.

- Private names: a leading underscore means "mine". A module may use its own ``_names`` freely; any
  other project module (product, benchmarks or tests) must not import one (``from m import _x``),
  access one (``m._x``, ``pkg.m._x``) or patch/read one by name (``setattr(m, "_x", ...)``,
  ``monkeypatch.setattr(m, "_x", ...)``, ``mock.patch("pkg.m._x")``). ``__dunder__`` names are not
  private. What another module needs is public in the module that owns it.
- Size: a product module (``.py`` under shared/, services/, deploy/, shoebox_cli/, and the page's
  ``.js``) stays at or under :data:`MAX_LINES` lines; past that it is split along its seams.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import ROOT

#: Where the project's own modules live (what "another project module" means).
PROJECT_DIRS = ("shared", "services", "deploy", "shoebox_cli", "benchmarks", "tests")
#: The product: what ships (benchmarks and tests do not count towards the size rule).
PRODUCT_DIRS = ("shared", "services", "deploy", "shoebox_cli")
PRODUCT_SUFFIXES = (".py", ".js")
MAX_LINES = 600

#: Calls that read or patch a module attribute named by a string: ``f(module, "name", ...)``.
BY_NAME_CALLS = frozenset({"setattr", "getattr", "hasattr", "delattr", "object"})
#: Calls that patch a dotted target named by a string: ``f("pkg.module.name", ...)``.
BY_PATH_CALLS = frozenset({"setattr", "delattr", "patch"})


def is_private(name: str) -> bool:
    """``_x`` is private; ``__x__`` (a dunder) is not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def module_name(path: Path) -> str:
    """The dotted module name of a source file under ROOT (a package is its ``__init__``)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(dirs: tuple[str, ...]) -> Iterator[Path]:
    for top in dirs:
        yield from sorted(p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


MODULES: dict[str, Path] = {module_name(p): p for p in python_files(PROJECT_DIRS)}


@dataclass(frozen=True)
class Violation:
    file: str  # relative to ROOT
    line: int
    name: str  # the private name, qualified by its module


def resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None for anything that is not a plain attribute chain."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def private_uses(path: Path) -> Iterator[Violation]:
    """Every private name of another project module that ``path`` imports, accesses or patches by name."""
    me = module_name(path)
    rel = str(path.relative_to(ROOT))
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)

    # Local names bound to project modules: ``import a.b`` binds ``a`` (reached through ``a.b``),
    # ``import a.b as m`` and ``from a import b`` (b a module) bind ``m``/``b``.
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom):
            source = resolve_from(me, path.name == "__init__.py", node)
            for alias in node.names:
                qualified = f"{source}.{alias.name}"
                if source != me and source in MODULES and is_private(alias.name):
                    yield Violation(rel, node.lineno, qualified)
                if qualified in MODULES:
                    aliases[alias.asname or alias.name] = qualified

    def module_attribute(chain: list[str]) -> str | None:
        """``pkg.mod._x`` when ``chain`` names a private attribute of another project module."""
        if chain[0] not in aliases:
            return None
        resolved = [*aliases[chain[0]].split("."), *chain[1:]]
        owner, name = ".".join(resolved[:-1]), resolved[-1]
        if owner in MODULES and owner != me and is_private(name):
            return f"{owner}.{name}"
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = dotted(node)
            found = module_attribute(chain) if chain else None
            if found:
                yield Violation(rel, node.lineno, found)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            args = node.args
            # setattr(module, "_x", ...), monkeypatch.setattr(module, "_x", ...), patch.object(module, "_x")
            if called in BY_NAME_CALLS and len(args) >= 2 and isinstance(args[1], ast.Constant):
                target = dotted(args[0])
                if target and isinstance(args[1].value, str):
                    found = module_attribute([*target, args[1].value])
                    if found:
                        yield Violation(rel, node.lineno, found)
            # monkeypatch.setattr("pkg.mod._x", ...), mock.patch("pkg.mod._x")
            if called in BY_PATH_CALLS and args and isinstance(args[0], ast.Constant):
                value = args[0].value
                if isinstance(value, str) and "." in value:
                    owner, _, name = value.rpartition(".")
                    if owner in MODULES and owner != me and is_private(name):
                        yield Violation(rel, node.lineno, value)


def test_no_module_uses_another_modules_private_names() -> None:
    found = [v for path in MODULES.values() for v in private_uses(path)]
    offending = list(found)
    assert not offending, "private names used across modules (make them public where they live):\n" + (
        "\n".join(f"{v.file}:{v.line}: {v.name}" for v in offending)
    )


def test_product_modules_stay_small() -> None:
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for top in PRODUCT_DIRS
        for p in sorted((ROOT / top).rglob("*"))
        if p.suffix in PRODUCT_SUFFIXES and p.is_file() and "__pycache__" not in p.parts
    }
    assert sizes, "no product modules found: is ROOT right?"
    too_big = {f: n for f, n in sizes.items() if n > MAX_LINES}
    assert not too_big, f"over {MAX_LINES} lines (split along the module's seams): {too_big}"
