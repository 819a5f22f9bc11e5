"""The command line (``task schemas`` runs ``write``)::

python -m shared.events.schemas write [--force] [--dir DIR]   # regenerate every file
python -m shared.events.schemas check [--dir DIR]             # exit 1 when committed files drift

Both first check that the output does not depend on import order (``stability.py``: two fresh
interpreters, a few seconds).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .files import DEFAULT_DIR, check, write


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.events.schemas",
        description="Generate and check the committed event schemas and AsyncAPI document.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="regenerate every file (refuses breaking changes unless --force)")
    w.add_argument("--force", action="store_true", help="write even if a committed version breaks")
    c = sub.add_parser("check", help="exit 1 if the committed files differ from the code")
    for p in (w, c):
        p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"schemas directory ({DEFAULT_DIR})")
    args = parser.parse_args(argv)
    if args.command == "write":
        return write(args.dir, force=args.force, guard_import_order=True)
    return check(args.dir, guard_import_order=True)
