"""The published event contracts as documents: JSON Schema per event version, one AsyncAPI document.

Everything here is generated from the Structs in ``shared.events.catalogue`` (through
``shared.events.codec.CATALOGUE``) and committed under ``schemas/``:

- :mod:`.json_schema`: ``schemas/events/<type>.json``, one JSON Schema (draft 2020-12) per event version.
- :mod:`.asyncapi`: ``schemas/asyncapi.json``, the AsyncAPI 3.0.0 document (a channel per event family
  on the EventBridge bus, a message per version, the producer of each family in ``PRODUCERS``).
- :mod:`.compat`: :func:`breaking_changes`, the rule that a published version never changes
  incompatibly.
- :mod:`.files`: the generated files, how the committed ones drift, ``write`` and ``check``.
- :mod:`.cli`: ``python -m shared.events.schemas write [--force] [--dir DIR] | check [--dir DIR]``
  (``task schemas`` runs ``write``).

The names below are the package's public surface; import them from here.
"""

from shared.events.schemas.asyncapi import (
    ASYNCAPI_VERSION,
    CONTENT_TYPE,
    PRODUCERS,
    REPO_ROOT,
    asyncapi_document,
    project_version,
)
from shared.events.schemas.cli import main
from shared.events.schemas.compat import breaking_changes
from shared.events.schemas.files import (
    ASYNCAPI_FILE,
    DEFAULT_DIR,
    Difference,
    check,
    differences,
    dumps,
    generated_files,
    write,
)
from shared.events.schemas.json_schema import (
    ENVELOPE_DOCS,
    EVENTS_SUBDIR,
    JSON_SCHEMA_DIALECT,
    JsonSchema,
    event_description,
    event_schema,
    event_schemas,
    schema_filename,
)

__all__ = [
    "ASYNCAPI_FILE",
    "ASYNCAPI_VERSION",
    "CONTENT_TYPE",
    "DEFAULT_DIR",
    "ENVELOPE_DOCS",
    "EVENTS_SUBDIR",
    "JSON_SCHEMA_DIALECT",
    "PRODUCERS",
    "REPO_ROOT",
    "Difference",
    "JsonSchema",
    "asyncapi_document",
    "breaking_changes",
    "check",
    "differences",
    "dumps",
    "event_description",
    "event_schema",
    "event_schemas",
    "generated_files",
    "main",
    "project_version",
    "schema_filename",
    "write",
]
