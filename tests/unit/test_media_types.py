"""One list of the media types Shoebox reads (``shared.runtime.media_types``), held together with everything
that uses it: what media_process decodes, what the API accepts, what the CLI sends and what the page sends.
A type added to one and not the others fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from litestar.exceptions import ClientException
from litestar.testing import TestClient

from services.api.auth import LocalIssuer
from services.api.page import MEDIA_TYPES_JS, WEB
from services.api.uploads import validate_upload
from services.media_process import sniff
from services.media_process.photo.formats import PHOTO_TYPES
from shared.runtime import media_types
from shared.runtime.config import Settings
from shoebox_cli import inputs
from tests.support.app import in_memory_app

#: in the list though sniff never says it: a 3G2 file is sniffed as video/3gpp (the same container), and
#: its own registered type is what a client declares for it
DECLARED_ONLY = {"video/3gpp2"}
RAW = [
    "IMG_0001.CR2",
    "DSC_0001.NEF",
    "DSC00001.ARW",
    "IMG_0001.CR3",
    "P1000001.RW2",
    "DSCF0001.RAF",
    "a.dng",
]


def test_the_list_is_what_media_process_reads() -> None:
    """Every type sniff can name is in the list with the same kind, and the list holds nothing else (but
    the declared-only types): the product accepts exactly what it can decode."""
    source = Path(sniff.__file__).read_text(encoding="utf-8")
    sniffed = dict(re.findall(r'"(photo|video)", "((?:image|video)/[\w.+-]+)"', source))
    sniffed_types = set(re.findall(r'"((?:image|video)/[\w.+-]+)"', source))
    assert len(sniffed_types) >= 15, "the pattern still finds sniff's types"
    assert sniffed_types | DECLARED_ONLY == set(media_types.KINDS)
    for token in sniffed_types:
        kind = sniffed.get(token) or ("photo" if token.startswith("image/") else "video")
        assert media_types.KINDS[token] == kind, token
    assert {t for t, k in media_types.KINDS.items() if k == "photo"} == PHOTO_TYPES


def test_the_api_accepts_exactly_the_list() -> None:
    settings = Settings()
    for media in media_types.MEDIA_TYPES:
        assert (
            validate_upload(f"a{media.extensions[0]}", media.token, 1, settings) == f"a{media.extensions[0]}"
        )
    for other in ["image/x-canon-cr2", "image/svg+xml", "image/", "image/jpeg\r\nX-Evil: 1", "Image/Jpeg"]:
        with pytest.raises(ClientException) as refused:
            validate_upload("a.jpg", other, 1, settings)
        assert refused.value.status_code == 400


def test_the_cli_types_each_file_from_the_list_and_sends_no_other() -> None:
    for ext, token in media_types.BY_EXTENSION.items():
        for name in (f"a{ext}", f"A{ext.upper()}"):
            assert inputs.content_type(name) == token, name
            assert inputs.InputFile(path=name, abspath=name, size=1, content_type=token).readable
    for name in [*RAW, "logo.svg", "notes.txt", "clip.ts", "film.mpg", "noext"]:
        typed = inputs.content_type(name)
        assert media_types.kind_of(typed) is None, (name, typed)
        assert not inputs.InputFile(path=name, abspath=name, size=1, content_type=typed).readable


def test_the_page_gets_the_list_from_the_api_and_keeps_none_of_its_own() -> None:
    app, _ = in_memory_app(LocalIssuer.generate())
    with TestClient(app) as client:
        module = client.get(f"/static/{MEDIA_TYPES_JS}").text
    tables = dict(re.findall(r"^export const (\w+) = Object\.freeze\((\{.*\})\);$", module, re.MULTILINE))
    assert json.loads(tables["KINDS"]) == media_types.KINDS
    assert json.loads(tables["BY_EXTENSION"]) == media_types.BY_EXTENSION
    for script in WEB.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        assert not re.search(r"""["'](image|video)/""", text), f"{script.name} keeps a media type of its own"
    assert f'from "./{MEDIA_TYPES_JS}";' in (WEB / "files.js").read_text(encoding="utf-8")
