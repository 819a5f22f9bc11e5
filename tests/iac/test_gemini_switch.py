"""On AWS the services run their offline providers until the operator puts a Gemini key and switches it on.

Terraform creates the key's SSM parameter with a placeholder. The services take Gemini as soon as the
parameter's NAME is in their environment (``gemini_configured``), and would send the placeholder as the key:
so the root gives the functions the name only when ``gemini_enabled`` (README "Deploy to AWS", step 6).
"""

from __future__ import annotations

import re

import hcl2

from services.selection.app import triage_provider
from services.selection.providers import OfflineTriage
from shared.runtime.config import Settings
from shared.runtime.gemini import gemini_configured
from shared.runtime.storage import InMemoryObjectStore
from tests.support.paths import ROOT

MAIN = ROOT / "deploy" / "terraform" / "main.tf"
SWITCHED = re.compile(
    r"SHOEBOX_AI_GEMINI_API_KEY_PARAMETER = "
    r'var\.gemini_enabled \? module\.secrets\.gemini_key_parameter_name : ""'
)


def environment_expression(text: str) -> str:
    """The root's ``local.environment`` expression, as python-hcl2 reads it."""
    locals_ = hcl2.loads(text)["locals"]
    (found,) = [block["environment"] for block in locals_ if "environment" in block]
    return str(found)


def switch_problems(text: str) -> list[str]:
    expression = environment_expression(text)
    if "SHOEBOX_AI_GEMINI_API_KEY_PARAMETER" not in expression:
        return ["the functions never get the key parameter's name"]
    if not SWITCHED.search(expression):
        return ["the functions get the key parameter's name whether or not gemini_enabled"]
    return []


def test_the_root_passes_the_parameter_name_only_when_enabled() -> None:
    assert switch_problems(MAIN.read_text()) == []
    variables = "".join(p.read_text() for p in MAIN.parent.glob("variables*.tf"))
    # python-hcl2 keeps a block label's quotes
    blocks = [{k.strip('"'): v for k, v in b.items()} for b in hcl2.loads(variables)["variable"]]
    (declared,) = [b["gemini_enabled"] for b in blocks if "gemini_enabled" in b]
    assert declared["default"] is False


def test_an_unconditional_parameter_name_is_caught() -> None:
    broken = re.sub(
        r"var\.gemini_enabled \? (module\.secrets\.gemini_key_parameter_name) : \"\"", r"\1", MAIN.read_text()
    )
    assert switch_problems(broken) == [
        "the functions get the key parameter's name whether or not gemini_enabled"
    ]


def test_switched_off_the_services_run_offline() -> None:
    """The environment a function gets switched off (an empty name) picks the offline provider; a name
    alone, whatever the parameter holds, picks Gemini."""
    off = Settings.from_env({"SHOEBOX_AI_GEMINI_API_KEY_PARAMETER": ""})
    assert not gemini_configured(off)
    assert isinstance(triage_provider(off, InMemoryObjectStore()), OfflineTriage)
    on = Settings.from_env({"SHOEBOX_AI_GEMINI_API_KEY_PARAMETER": "/shoebox-dev/gemini-api-key"})
    assert gemini_configured(on)
    assert not isinstance(triage_provider(on, InMemoryObjectStore()), OfflineTriage)
