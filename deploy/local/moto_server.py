"""``python -m deploy.local.moto_server [--state DIR] -H HOST -p PORT``: moto server with the embedded
stack's patches; with ``--state``, its state kept in DIR across restarts (deploy/local/moto_persistence.py).
"""

import logging
import sys
from pathlib import Path

from deploy.local import moto_patches


def _take_state(argv: list[str]) -> Path | None:
    """Remove ``--state DIR`` from ``argv`` (moto's own parser does not know it) and return DIR."""
    if "--state" not in argv:
        return None
    at = argv.index("--state")
    state = Path(argv[at + 1])
    del argv[at : at + 2]
    return state


if __name__ == "__main__":
    state = _take_state(sys.argv)
    moto_patches.apply()
    if state is not None:
        from deploy.local import moto_persistence

        # what was restored, and what could not be, goes to the emulator's log (its stderr)
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logging.getLogger("shoebox").addHandler(handler)
        logging.getLogger("shoebox").setLevel(logging.INFO)

        moto_persistence.install(state)
    from moto.server import main

    main()
