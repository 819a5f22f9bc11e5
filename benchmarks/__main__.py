"""``python -m benchmarks [NAME ...]``: run every benchmark (but the named-only ones), or the named ones.

Each benchmark is a module of this package with ``run(args) -> dict``. Its figures are printed as rich
tables and written to ``.bench/NAME.json`` (git-ignored), together with a description of the machine.

The modules are found by reading their source (``ast``), not by importing them: ``--list`` imports none,
and a run imports only the benchmarks named on the command line (all of them when none is named), so
one benchmark does not pay for the others' imports (pyvips, ImageCms, the stack). A module that sets
``NAMED_ONLY = True`` (``scale``: many minutes and a gigabyte of photos) runs only when named.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import pkgutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.table import Table

import benchmarks
from benchmarks._common import ROOT, machine_info


@dataclass(frozen=True)
class Benchmark:
    name: str
    summary: str  # the first line of the module's docstring
    #: run only when named (the module sets ``NAMED_ONLY = True``): too long or too big for "all"
    named_only: bool = False


def discover() -> dict[str, Benchmark]:
    """name -> benchmark, for every public module of the package that defines ``run`` (nothing imported)."""
    registry: dict[str, Benchmark] = {}
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda i: i.name):
        path = Path(benchmarks.__path__[0]) / f"{info.name}.py"
        if info.name.startswith("_") or info.ispkg or not path.is_file():
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        if any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "run" for n in tree.body):
            doc = (ast.get_docstring(tree) or "").strip().splitlines()
            registry[info.name] = Benchmark(info.name, doc[0] if doc else "", _named_only(tree))
    return registry


def _named_only(tree: ast.Module) -> bool:
    """Whether the module says ``NAMED_ONLY = True`` at its top level."""
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "NAMED_ONLY" for t in targets):
                return isinstance(node.value, ast.Constant) and node.value.value is True
    return False


def by_default(registry: Mapping[str, Benchmark]) -> list[str]:
    """The benchmarks a run without names runs: all but the named-only ones."""
    return [name for name, bench in registry.items() if not bench.named_only]


def load(names: Iterable[str]) -> dict[str, ModuleType]:
    """name -> imported module, for the benchmarks named."""
    return {name: importlib.import_module(f"benchmarks.{name}") for name in names}


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, value


def generic_table(name: str, result: Mapping[str, Any]) -> Table:
    """A key/value table, for benchmarks that bring no table of their own."""
    table = Table(title=name)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in _flatten({k: v for k, v in result.items() if k != "machine"}):
        table.add_row(key, str(value))
    return table


def parser(registry: Mapping[str, Benchmark], modules: Mapping[str, ModuleType]) -> argparse.ArgumentParser:
    """The command line: the common options, and those of the benchmarks in ``modules``."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the benchmarks (all but the named-only ones, or the ones named) and write "
        ".bench/NAME.json. "
        "--help names the options of the benchmarks named with it (of all when none is).",
    )
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="benchmarks to run (default: all but those run only when named): "
        + ", ".join(f"{n} (only when named)" if b.named_only else n for n, b in registry.items()),
    )
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--out", type=Path, default=ROOT / ".bench", help="where NAME.json goes (default: .bench)")
    p.add_argument("--quick", action="store_true", help="fewer samples: a smoke run, not figures to quote")
    for name, module in modules.items():
        add: Callable[[argparse._ArgumentGroup], None] | None = getattr(module, "add_arguments", None)
        if add is not None:
            add(p.add_argument_group(f"{name} options"))
    return p


def _wants_list(argv: Sequence[str]) -> bool:
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--list", action="store_true")
    return bool(pre.parse_known_args(argv)[0].list)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    registry = discover()
    console = Console()
    if not console.is_terminal:  # CI logs, a pipe: don't squeeze the tables into 80 columns
        console = Console(width=140)
    if _wants_list(argv):
        for name, bench in registry.items():
            only = " (only when named)" if bench.named_only else ""
            console.print(f"{name}: {bench.summary}{only}")
        return 0
    # the benchmarks named on the command line (their options are parsed too); all when none is
    named = [a for a in dict.fromkeys(argv) if a in registry]
    wants_help = any(a in ("-h", "--help") for a in argv)
    modules = load(named or (list(registry) if wants_help else by_default(registry)))
    args = parser(registry, modules).parse_args(argv)
    if not args.names and named:  # a name was an option's value: run the default ones
        modules = load(by_default(registry))
        args = parser(registry, modules).parse_args(argv)
    unknown = [n for n in args.names if n not in registry]
    if unknown:
        console.print(
            f"[red]unknown benchmark{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}[/red]; "
            f"known: {', '.join(registry) or '(none)'}"
        )
        return 2
    names = list(dict.fromkeys(args.names)) or by_default(registry)
    args.out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    for name in names:
        module = modules[name]
        console.rule(f"benchmark: {name}")
        started = time.perf_counter()
        result: dict[str, Any] = module.run(args)
        result = {
            "benchmark": name,
            **result,
            "duration_s": round(time.perf_counter() - started, 1),
            "machine": machine,
        }
        make_tables: Callable[[Mapping[str, Any]], list[Table]] | None = getattr(module, "tables", None)
        for table in make_tables(result) if make_tables else [generic_table(name, result)]:
            console.print(table)
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        console.print(f"{name}: {result['duration_s']} s, figures in {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
