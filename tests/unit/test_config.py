"""One configuration: every variable reaches its field, invalid values are refused by name, each default is
set once, and the README's table is generated from ``Settings``."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from services.media_process.model import Limits
from shared.runtime import config
from shared.runtime.config import (
    README,
    VARIABLES,
    ConfigError,
    MediaSettings,
    Settings,
    Variable,
    settings_table,
    with_table,
)

#: every name operators and tests set before the settings had sections: each must keep working
NAMES_IN_USE = {
    "SHOEBOX_PREFIX",
    "SHOEBOX_REGION",
    "SHOEBOX_AWS_ENDPOINT",
    "SHOEBOX_AWS_ACCESS_KEY_ID",
    "SHOEBOX_AWS_SECRET_ACCESS_KEY",
    "SHOEBOX_TELEMETRY_EXPORTER",
    "SHOEBOX_LOG_LEVEL",
    "SHOEBOX_LOG_FORMAT",
    "SHOEBOX_TMP_DIR",
    *(f"SHOEBOX_MEDIA_{f.upper()}" for f in msgspec.structs.asdict(MediaSettings())),
    "SHOEBOX_TRIAGE_UPLOAD_WINDOW_S",
    "SHOEBOX_TRIAGE_DEADLINE_S",
    "SHOEBOX_TRIAGE_VERDICT_WAIT_S",
    "SHOEBOX_API_STREAM_MAX_S",
    "SHOEBOX_AUTH_ISSUER",
    "SHOEBOX_AUTH_AUDIENCE",
    "SHOEBOX_AUTH_JWKS_URL",
    "SHOEBOX_GEMINI_API_KEY",
}
#: values to try, in order, for a variable: the first valid one that is not the default
CANDIDATES = (
    *("7", "2.5", "true", "debug", "text", "otlp", "not-the-default", "512", "fast", "false"),
    "https://login.example.com",  # an origin (SHOEBOX_AUTH_HOSTED_UI_URL)
)


def other_value(var: Variable) -> tuple[str, Any]:
    """A valid value for ``var`` other than its default: the raw string and what it parses to."""
    for raw in CANDIDATES:
        try:
            value = msgspec.convert(raw, var.type, strict=False)
        except msgspec.ValidationError:
            continue
        if value != var.default:
            return raw, value
    raise AssertionError(f"no candidate value for {var.name}")


def test_every_name_in_use_is_a_variable_and_each_variable_has_one_name() -> None:
    names = [v.name for v in VARIABLES]
    assert len(names) == len(set(names))
    assert set(names) >= NAMES_IN_USE, f"renamed or gone: {sorted(NAMES_IN_USE - set(names))}"
    assert all(name.startswith("SHOEBOX_") for name in names)


@pytest.mark.parametrize("var", VARIABLES, ids=lambda v: v.name)
def test_each_variable_sets_its_field_and_nothing_else(var: Variable) -> None:
    raw, value = other_value(var)
    settings = Settings.from_env({var.name: raw})
    assert var.value(settings) == value
    others = [v for v in VARIABLES if v is not var]
    assert [v.value(settings) for v in others] == [v.value(Settings()) for v in others]


def test_unset_variables_keep_the_defaults_and_to_env_gives_the_settings_back() -> None:
    assert Settings.from_env({}) == Settings()
    every = {v.name: other_value(v)[0] for v in VARIABLES}
    changed = Settings.from_env(every)
    assert all(v.value(changed) != v.default for v in VARIABLES)
    assert Settings.from_env(changed.to_env()) == changed
    assert Settings.from_env(Settings().to_env()) == Settings()


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("SHOEBOX_MEDIA_MAX_PHOTO_BYTES", "200MB"),
        ("SHOEBOX_MEDIA_MAX_VIDEO_BYTES", "0"),
        ("SHOEBOX_TRIAGE_DEADLINE_S", "soon"),
        ("SHOEBOX_API_STREAM_MAX_S", "-1"),
        ("SHOEBOX_TELEMETRY_EXPORTER", "jaeger"),
        ("SHOEBOX_LOG_FORMAT", "xml"),
        ("SHOEBOX_LOG_LEVEL", "loud"),
        ("SHOEBOX_PREFIX", "My Stack"),
    ],
)
def test_an_invalid_value_is_refused_naming_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({name: raw, "SHOEBOX_REGION": "eu-west-1"})
    [problem] = refused.value.problems
    assert problem.startswith(f"{name}={raw!r}: ")


def test_every_invalid_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SHOEBOX_MEDIA_MAX_PIXELS": "many", "SHOEBOX_TRIAGE_UPLOAD_WINDOW_S": "long"})
    assert "SHOEBOX_MEDIA_MAX_PIXELS='many'" in str(refused.value)
    assert "SHOEBOX_TRIAGE_UPLOAD_WINDOW_S='long'" in str(refused.value)


def test_the_media_limits_have_one_default_the_settings() -> None:
    """media_process's ``Limits`` are the media settings plus their checks: no default of their own."""
    assert msgspec.structs.fields(Limits) == msgspec.structs.fields(MediaSettings)
    assert Limits() == Limits.of(Settings().media)
    given = Settings.from_env({"SHOEBOX_MEDIA_MAX_PHOTO_BYTES": "1000", "SHOEBOX_MEDIA_THUMBNAIL_PX": "64"})
    limits = Limits.of(given.media)
    assert (limits.max_photo_bytes, limits.thumbnail_px) == (1000, 64)


def test_every_field_has_a_description() -> None:
    class Undocumented(msgspec.Struct, frozen=True):
        size: int = 1

    with pytest.raises(TypeError, match="needs a description"):
        config.variables(Undocumented)
    assert all(v.description and "|" not in v.description for v in VARIABLES)


def test_the_readmes_table_is_the_settings() -> None:
    readme = README.read_text(encoding="utf-8")
    assert with_table(readme) == readme, "run `task settings` (python -m shared.runtime.config write)"
    for var in VARIABLES:
        assert f"| `{var.name}` |" in readme


def test_the_table_follows_the_settings() -> None:
    """The drift check above can fail: a table written from other settings is not the README's."""
    readme = README.read_text(encoding="utf-8")
    stale = readme.replace(settings_table(), settings_table().replace("The AWS region", "The region"))
    assert stale != readme and with_table(stale) == readme
    with pytest.raises(ValueError, match="markers"):
        with_table("# a README without the markers\n")
