"""``python -m deploy.local.topology_export [--check]``: write the topology Terraform reads.

``deploy/terraform/topology.json`` is generated from the same declarations the embedded stack provisions
from; a test fails when the committed file drifts from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from deploy.topology import TOPOLOGY
from shared.runtime.config import Names

TARGET = Path(__file__).resolve().parents[1] / "terraform" / "topology.json"


def render() -> str:
    # Terraform derives every name from var.prefix; the file carries the structure with a placeholder prefix.
    return json.dumps(TOPOLOGY.describe(Names(prefix="${prefix}")), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run `task topology`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
