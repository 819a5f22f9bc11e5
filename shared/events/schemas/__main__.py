"""``python -m shared.events.schemas write|check``: see :mod:`shared.events.schemas.cli`."""

from .cli import main

raise SystemExit(main())
