"""The published event contracts as documents: JSON Schema per event version, one AsyncAPI document.

Everything here is generated from the Structs in ``shared.events.catalogue`` (through
``shared.events.codec.CATALOGUE``) and committed under ``schemas/``:

- :mod:`.json_schema`: ``schemas/events/<type>.json``, one JSON Schema (draft 2020-12) per event version.
- :mod:`.draft4`: ``schemas/events-draft4/<type>.json``, the same schemas converted to JSON Schema Draft 4
  for the EventBridge schema registry (Terraform ``modules/contracts``).
- :mod:`.stability`: the guard that the generated files do not depend on import order.
- :mod:`.asyncapi`: ``schemas/asyncapi.json``, the AsyncAPI 3.0.0 document (a channel per event family
  on the EventBridge bus, a message per version, the producer of each family in ``PRODUCERS``).
- :mod:`.compat`: :func:`breaking_changes`, the rule that a published version never changes
  incompatibly.
- :mod:`.files`: the generated files, how the committed ones drift, ``write`` and ``check``.
- :mod:`.cli`: ``python -m shared.events.schemas write [--force] [--dir DIR] | check [--dir DIR]``
  (``task schemas`` runs ``write``).

The names below are the package's public surface; import them from here.
"""

from .asyncapi import (
    ASYNCAPI_VERSION,
    CONTENT_TYPE,
    PRODUCERS,
    REPO_ROOT,
    asyncapi_document,
    project_version,
)
from .cli import main
from .compat import breaking_changes
from .draft4 import (
    DRAFT4_DIALECT,
    DRAFT4_SUBDIR,
    Draft4Error,
    draft4_filename,
    event_schema_draft4,
    to_draft4,
)
from .files import (
    ASYNCAPI_FILE,
    DEFAULT_DIR,
    Difference,
    check,
    differences,
    dumps,
    generated_files,
    write,
)
from .json_schema import (
    ENVELOPE_DOCS,
    EVENTS_SUBDIR,
    JSON_SCHEMA_DIALECT,
    JsonSchema,
    event_description,
    event_schema,
    event_schemas,
    schema_filename,
)
from .stability import import_order_differences

__all__ = [
    "ASYNCAPI_FILE",
    "ASYNCAPI_VERSION",
    "CONTENT_TYPE",
    "DEFAULT_DIR",
    "DRAFT4_DIALECT",
    "DRAFT4_SUBDIR",
    "ENVELOPE_DOCS",
    "EVENTS_SUBDIR",
    "JSON_SCHEMA_DIALECT",
    "PRODUCERS",
    "REPO_ROOT",
    "Difference",
    "Draft4Error",
    "JsonSchema",
    "asyncapi_document",
    "breaking_changes",
    "check",
    "differences",
    "draft4_filename",
    "dumps",
    "event_description",
    "event_schema",
    "event_schema_draft4",
    "event_schemas",
    "generated_files",
    "import_order_differences",
    "main",
    "project_version",
    "schema_filename",
    "to_draft4",
    "write",
]
