"""``shoebox dev-token`` and the CLI's tokens for a local API: minted from the key the stack keeps in its
state folder; a clear line when there is none; a week at most, and never for an empty name."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from services.api.auth import MAX_TOKEN_LIFETIME_S, LocalIssuer
from shoebox_cli.main import main
from shoebox_cli.tokens import LOCAL_USER, for_api, is_local
from tests.support.api import new_session
from tests.support.app import running
from tests.support.stack import RunningStack


def test_dev_token_prints_a_token_the_stacks_api_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer = LocalIssuer.load_or_create(tmp_path)  # what a stack's first start leaves in its state folder
    state_dir = str(tmp_path)
    assert main(["dev-token", "--state-dir", state_dir, "--sub", "carol", "--ttl", "120"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "carol" and claims["exp"] - claims["iat"] == 120
    carol = {"Authorization": f"Bearer {token}"}
    with running(LocalIssuer.load(tmp_path)) as api:  # the API of a stack started in that folder
        created = api.client.post("/v1/sessions", json={"context": "Carol's"}, headers=carol)
        assert created.status_code == 201, created.text
        sid = created.json()["session_id"]
        assert api.client.get(f"/v1/sessions/{sid}", headers=carol).is_success
        alice = {"Authorization": f"Bearer {issuer.issue('alice')}"}
        assert api.client.get(f"/v1/sessions/{sid}", headers=alice).status_code == 404

    assert main(["dev-token", "--state-dir", state_dir]) == 0  # default: the CLI's local user
    assert (
        jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})["sub"] == LOCAL_USER
    )


def test_dev_token_says_in_one_line_when_no_stack_has_run_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev-token", "--state-dir", str(tmp_path)]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    [line] = printed.err.strip().splitlines()
    assert line.startswith(f"shoebox: no Shoebox stack has run in {tmp_path}") and "shoebox up" in line
    assert not (tmp_path / "auth").exists()  # asking made no key


@pytest.mark.stack
def test_status_against_a_local_api_mints_its_token_from_the_state_folder(
    embedded_stack: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api, state_dir = embedded_stack.api_url, embedded_stack.stack.config.state_dir
    sid = new_session(api, "Local user's trip", headers=embedded_stack.auth(LOCAL_USER))
    assert main(["status", sid, "--api", api, "--state-dir", state_dir]) == 0
    assert "Local user's trip" in capsys.readouterr().out
    assert main(["events", sid, "--api", api, "--state-dir", state_dir, "--json"]) == 0
    assert "session.created" in capsys.readouterr().out

    # no key to mint with: the API refuses, and the line says what to do
    assert main(["status", sid, "--api", api, "--state-dir", str(tmp_path)]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "401" in line and "--token" in line and "shoebox dev-token" in line


def test_tokens_are_minted_only_for_an_api_on_this_machine(tmp_path: Path) -> None:
    state_dir = tmp_path
    issuer = LocalIssuer.load_or_create(state_dir)
    assert (
        is_local("http://127.0.0.1:8000")
        and is_local("http://localhost:8000/")
        and is_local("http://[::1]:1")
    )
    assert not is_local("https://api.example.com")
    assert for_api("https://api.example.com", None, state_dir) is None
    assert for_api("https://api.example.com", "T", state_dir) == "T"
    assert for_api("http://127.0.0.1:8000", "T", state_dir) == "T"
    minted = for_api("http://127.0.0.1:8000", None, state_dir)
    assert minted is not None and issuer.verifier().verify(minted).sub == LOCAL_USER


@pytest.mark.parametrize("sub", ["", " ", "\t", "bob smith", " carol", "x" * 65, "_under", "a/b"])
def test_dev_token_refuses_a_user_name_the_sign_in_would_not_take(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sub: str
) -> None:
    """An empty ``--sub`` used to become ``local`` without a word: a token for the default user's sessions."""
    LocalIssuer.load_or_create(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["dev-token", "--state-dir", str(tmp_path), "--sub", sub])
    assert exited.value.code == 2
    printed = capsys.readouterr()
    assert printed.out == "" and "argument --sub" in printed.err
    assert ("empty" in printed.err) if not sub.strip() else ("not a user name here" in printed.err)


def test_dev_token_lives_a_week_at_most_and_the_api_refuses_a_longer_lived_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer = LocalIssuer.load_or_create(tmp_path)
    century = str(100 * 365 * 24 * 3600)
    with pytest.raises(SystemExit) as exited:
        main(["dev-token", "--state-dir", str(tmp_path), "--ttl", century])
    assert exited.value.code == 2 and "at most 604800 s (7 days)" in capsys.readouterr().err
    assert main(["dev-token", "--state-dir", str(tmp_path), "--ttl", str(MAX_TOKEN_LIFETIME_S)]) == 0
    week = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert week["exp"] - week["iat"] == MAX_TOKEN_LIFETIME_S
    with pytest.raises(ValueError, match="at most"):
        issuer.issue("carol", MAX_TOKEN_LIFETIME_S + 1)
    # a token minted for a century before the cap (or by hand with the key) is refused by the API
    old = issuer.issue("carol", 60, extra={"exp": int(time.time()) + int(century)})
    with running(issuer) as api:
        r = api.client.get("/v1/sessions/x", headers={"Authorization": f"Bearer {old}"})
        assert r.status_code == 401 and "lives longer" in r.json()["detail"]
