"""``python -m shared.events.schemas write|check``: see :mod:`shared.events.schemas.cli`."""

from shared.events.schemas.cli import main

raise SystemExit(main())
