"""The environment is read in one module: no product module but ``shared/runtime/config.py`` touches it
(``Settings.from_env`` is the only reader of ``SHOEBOX_*``), and none reads it when it is imported.

A static check of the source (AST), so it sees code no test runs; the checker's own tests below show that it
finds each kind of read.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PRODUCT = ("shared", "services", "deploy", "shoebox_cli")
CONFIG = "shared/runtime/config.py"
#: modules that may touch the environment outside config.py, and why; none of them may name SHOEBOX_*
ALLOWED = {
    # MOTO_PORT is moto's own variable, not Shoebox's: the emulator process (a child, or this process with
    # the in-process emulator) must have it, since moto builds its self-referring URLs from it
    "deploy/local/emulator.py": "MOTO_PORT for the emulator",
    # a build tool, not a service: it runs `uv export` with the caller's environment plus uv's own switches
    # (offline, quiet), so uv finds its cache and index settings
    "deploy/docker/images.py": "the environment handed on to uv",
}
ENV_ATTRIBUTES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
#: calls that read the whole configuration (``Settings.from_env()``): never at import time
READERS = {"from_env"}
#: where a key string is looked up (``env["X"]``, ``env.get("X")``, ``"X" in env``)
LOOKUPS = {"get", "pop", "setdefault", "getenv", "__getitem__", "__contains__"}


def product_modules() -> list[Path]:
    return sorted(p for top in PRODUCT for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts)


class Finder(ast.NodeVisitor):
    """Env accesses, ``from_env`` calls and SHOEBOX_* key look-ups in one module, and which of them run at
    import time (module level, class bodies, decorators and defaults; not function bodies, not
    ``if __name__ == "__main__"``)."""

    def __init__(self) -> None:
        self.os_names: set[str] = set()  # names bound to the os module
        self.env_names: set[str] = set()  # names imported from os (environ, getenv, ...)
        self.shoebox_names: set[str] = set()  # module constants holding a SHOEBOX_* name
        self.depth = 0  # function bodies entered
        self.env: list[tuple[int, bool]] = []  # (line, at import time)
        self.readers: list[int] = []  # lines of from_env calls at import time
        self.lookups: list[int] = []  # lines of SHOEBOX_* key look-ups

    # ---- bindings
    def visit_Import(self, node: ast.Import) -> None:
        self.os_names |= {a.asname or a.name for a in node.names if a.name == "os"}

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "os":
            names = {a.asname or a.name for a in node.names if a.name in ENV_ATTRIBUTES}
            self.env_names |= names
            if names:
                self.env.append((node.lineno, self.depth == 0))

    def visit_Assign(self, node: ast.Assign) -> None:
        if self.depth == 0 and _shoebox(node.value):
            self.shoebox_names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        self.generic_visit(node)

    # ---- scopes
    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        if not isinstance(node, ast.Lambda):
            for decorator in node.decorator_list:
                self.visit(decorator)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        self.depth += 1
        for child in node.body if isinstance(node.body, list) else [node.body]:
            self.visit(child)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if _is_main_guard(node.test):  # runs as a script, never on import
            self.depth += 1
            self.generic_visit(node)
            self.depth -= 1
        else:
            self.generic_visit(node)

    # ---- reads
    def visit_Attribute(self, node: ast.Attribute) -> None:
        if (
            isinstance(node.value, ast.Name)
            and node.value.id in self.os_names
            and node.attr in ENV_ATTRIBUTES
        ):
            self.env.append((node.lineno, self.depth == 0))
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.env_names:
            self.env.append((node.lineno, self.depth == 0))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in READERS and self.depth == 0:
            self.readers.append(node.lineno)
        if name in LOOKUPS and node.args and self._names_shoebox(node.args[0]):
            self.lookups.append(node.lineno)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if self._names_shoebox(node.slice):
            self.lookups.append(node.lineno)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) and self._names_shoebox(node.left):
            self.lookups.append(node.lineno)
        self.generic_visit(node)

    def _names_shoebox(self, node: ast.AST) -> bool:
        return _shoebox(node) or (isinstance(node, ast.Name) and node.id in self.shoebox_names)


def _shoebox(node: ast.AST) -> bool:
    """A SHOEBOX_* name: a literal, or an f-string that starts with one (``f"SHOEBOX_{name}"``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value.startswith("SHOEBOX_")
    if isinstance(node, ast.JoinedStr) and node.values:
        return _shoebox(node.values[0])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _shoebox(node.left)
    return False


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def problems(source: str, module: str) -> list[str]:
    """What ``module`` (its path from the repository's root) does against the rule, one line each."""
    finder = Finder()
    finder.visit(ast.parse(source, filename=module))
    out = [f"{module}:{line}: reads the environment at import time" for line, now in finder.env if now]
    out += [f"{module}:{line}: reads the configuration (from_env) at import time" for line in finder.readers]
    if module != CONFIG:
        if module not in ALLOWED:
            out += [
                f"{module}:{line}: touches the environment (only {CONFIG} may; take the settings instead)"
                for line, now in finder.env
                if not now
            ]
        out += [
            f"{module}:{line}: looks up a SHOEBOX_* variable (only {CONFIG} may)" for line in finder.lookups
        ]
    return out


def test_only_config_reads_the_environment_and_no_module_reads_it_on_import() -> None:
    modules = product_modules()
    assert len(modules) > 50 and any(p.relative_to(ROOT).as_posix() == CONFIG for p in modules)
    found = [
        problem
        for path in modules
        for problem in problems(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    ]
    assert found == []


def test_the_allowed_modules_still_need_their_exception() -> None:
    """An exception nobody uses any more is removed, not kept as a hole."""
    for module in ALLOWED:
        finder = Finder()
        finder.visit(ast.parse((ROOT / module).read_text(encoding="utf-8")))
        assert finder.env, f"{module} no longer touches the environment: remove it from ALLOWED"


# --------------------------------------------------------------------------- the checker finds each kind
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            'import os\nMAX_S = int(os.environ.get("SHOEBOX_API_STREAM_MAX_S", 600))\n',
            ["import time", "looks up"],
        ),
        ("import os as o\nclass C:\n    home = o.getenv('HOME')\n", ["import time"]),
        ("from os import environ\ndef f():\n    return environ['X']\n", ["import time", "touches"]),
        ("import os\ndef f(env=os.environ):\n    return env\n", ["import time"]),
        ("import os\ndef f():\n    return os.environ.copy()\n", ["touches"]),
        ("def f(env):\n    return env.get('SHOEBOX_GEMINI_API_KEY')\n", ["looks up"]),
        ("KEY = 'SHOEBOX_X'\ndef f(env):\n    return KEY in env\n", ["looks up"]),
        ("def f(env, f):\n    return env[f'SHOEBOX_{f}']\n", ["looks up"]),
        ("from shared.runtime.config import Settings\nSETTINGS = Settings.from_env()\n", ["from_env"]),
        ("from x import make\n@make(Settings.from_env())\ndef f(): ...\n", ["from_env"]),
        ("from x import main\nif __name__ == '__main__':\n    main(Settings.from_env())\n", []),
        ("def handler(event, context):\n    return Settings.from_env()\n", []),
        ("ERROR = 'set SHOEBOX_AUTH_ISSUER'\n", []),
    ],
)
def test_the_checker_finds_each_kind_of_read(source: str, expected: list[str]) -> None:
    found = problems(source, "services/example.py")
    assert len(found) == len(expected), found
    for problem, what in zip(found, expected, strict=True):
        assert what in problem, found


def test_config_may_read_the_environment_but_not_on_import() -> None:
    assert problems("import os\ndef from_env():\n    return os.environ\n", CONFIG) == []
    assert problems("import os\nENV = dict(os.environ)\n", CONFIG) != []


# --------------------------------------------------------------------------- and by running it
IMPORT_ALL = """
import importlib, sys
from shared.runtime.config import ConfigError
for name in sys.argv[1:]:
    importlib.import_module(name)
from services.api.lambda_function import handler
try:
    handler({}, None)
except ConfigError as exc:
    print(exc)
"""


def test_every_module_imports_with_every_variable_invalid_and_the_first_invocation_refuses_them() -> None:
    """Behaviour to the static check's structure: with every SHOEBOX_* variable set to nonsense, every
    product module imports (none reads the configuration then); the API Lambda's first invocation is what
    reads it, and refuses it naming the variables."""
    from shared.runtime.config import VARIABLES

    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in product_modules()]
    # A package's __main__ runs its command line on import; its imports are checked through the package.
    modules = [m.removesuffix(".__init__") for m in modules if not m.endswith(".__main__")]
    env = {**os.environ, **{v.name: "%invalid%" for v in VARIABLES}}
    run = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, *modules], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "SHOEBOX_MEDIA_MAX_PHOTO_BYTES='%invalid%'" in run.stdout
    assert "SHOEBOX_API_STREAM_MAX_S='%invalid%'" in run.stdout
