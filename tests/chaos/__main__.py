"""``python -m tests.chaos --runs 50 --seed S`` (``task chaos -- ...``): the chaos runs on the embedded
stack, a line per run, then the figures; exits 1 when anything was lost, doubled, stuck or different from
the clean run (docs/chaos.md)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from shared.runtime.config import Settings
from tests.chaos.harness import ChaosConfig, run_campaign


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """This process's stderr, and so its children's (the stack's processes inherit it), into ``path``:
    the processes' logs and the tracebacks of the killed ones stay out of the figures."""
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(2)
    with path.open("ab") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def main(argv: Sequence[str] | None = None) -> int:
    defaults = ChaosConfig()
    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    p.add_argument("--runs", type=int, default=defaults.runs)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--kills", type=int, default=defaults.kills, help="the killer's SIGKILLs per run")
    p.add_argument("--visibility", type=int, default=defaults.visibility_s, help="seconds (the stack's: 20)")
    p.add_argument(
        "--double-delay", type=int, default=defaults.double_deliveries_s, help="copies' delay, at most (s)"
    )
    p.add_argument("--crash-rate", type=float, default=defaults.crash_rate)
    p.add_argument("--no-tracking", action="store_true", help="switch the tracking record off (must fail)")
    p.add_argument("--no-clean", action="store_true", help="no clean run to compare with")
    p.add_argument(
        "--work",
        type=Path,
        help="the stacks' state, logs and reports (default: a temporary folder, kept on failure)",
    )
    p.add_argument("--json", type=Path, help="also write the figures and every run's findings here")
    args = p.parse_args(argv)
    config = ChaosConfig(
        runs=args.runs,
        seed=args.seed,
        kills=args.kills,
        visibility_s=args.visibility,
        double_deliveries_s=args.double_delay,
        crash_rate=args.crash_rate,
        tracking=not args.no_tracking,
        clean=not args.no_clean,
    )
    work = args.work.resolve() if args.work else Path(tempfile.mkdtemp(prefix="shoebox-chaos-"))
    log = work / "stack.log"
    print(f"chaos: {config.runs} runs, seed {config.seed}; the stacks' logs: {log}", flush=True)
    with stderr_to(log):
        summary = run_campaign(config, Settings.from_env(), work=work, out=sys.stdout)
    print(summary.text())
    if args.json:
        args.json.write_bytes(
            msgspec.json.format(
                msgspec.json.encode({"figures": summary.figures(), "runs": summary.runs}), indent=2
            )
        )
    if summary.problems():
        print(f"kept for a look: {work} (each stack's logs/, each run's report and cli.log)")
        return 1
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
