"""``python -m benchmarks [NAME ...]``: run every benchmark, or the named ones.

Each benchmark is a module of this package with ``run(args) -> dict``. Its figures are printed as rich
tables and written to ``.bench/NAME.json`` (git-ignored), together with a description of the machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.table import Table

import benchmarks
from benchmarks._common import ROOT, machine_info


def discover() -> dict[str, ModuleType]:
    """name -> module, for every public module of the package that defines ``run``."""
    registry: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        if callable(getattr(module, "run", None)):
            registry[info.name] = module
    return registry


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


def parser(registry: Mapping[str, ModuleType]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the benchmarks (all of them, or the ones named) and write .bench/NAME.json.",
    )
    p.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all): {', '.join(registry)}"
    )
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--out", type=Path, default=ROOT / ".bench", help="where NAME.json goes (default: .bench)")
    p.add_argument("--quick", action="store_true", help="fewer samples: a smoke run, not figures to quote")
    for name, module in registry.items():
        add: Callable[[argparse._ArgumentGroup], None] | None = getattr(module, "add_arguments", None)
        if add is not None:
            add(p.add_argument_group(f"{name} options"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    registry = discover()
    args = parser(registry).parse_args(argv)
    console = Console()
    if not console.is_terminal:  # CI logs, a pipe: don't squeeze the tables into 80 columns
        console = Console(width=140)
    if args.list:
        for name, module in registry.items():
            doc = (module.__doc__ or "").strip().splitlines()
            console.print(f"{name}: {doc[0] if doc else ''}")
        return 0
    unknown = [n for n in args.names if n not in registry]
    if unknown:
        console.print(
            f"[red]unknown benchmark{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}[/red]; "
            f"known: {', '.join(registry) or '(none)'}"
        )
        return 2
    names = list(dict.fromkeys(args.names)) or list(registry)
    args.out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    for name in names:
        module = registry[name]
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
