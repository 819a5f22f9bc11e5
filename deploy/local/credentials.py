"""The embedded stack's own AWS credentials: made when its state folder is first used, kept there (0600).

The emulator accepts only requests signed with them (``deploy/local/emulator_auth.py``), and every
process of the stack signs with them: the stack passes them on in its configuration
(``Settings.aws.access_key_id`` / ``secret_access_key``: in the processes' plan, 0600, and in the
emulator's environment). A restarted stack (the same state folder) keeps them, so do its clients that
are still running; ``shoebox up --fresh`` forgets the emulator's state, not its keys.
"""

from __future__ import annotations

import os
import secrets
import string
import uuid
from pathlib import Path

import msgspec

from shared.runtime.config import VARIABLES, AwsSettings, Settings

#: where a stack's credentials are kept, under its state folder (beside the token issuer's key)
CREDENTIALS_FILE = Path("auth") / "aws-credentials.json"
#: an access key id as AWS makes them: 20 upper-case letters and digits, ``AKIA`` first
_KEY_ALPHABET = string.ascii_uppercase + string.digits


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """An access key id and its secret."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never the secret in a log or a test's failure message
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"

    @classmethod
    def generate(cls) -> Credentials:
        """Fresh random credentials (80 bits of key id, 240 bits of secret)."""
        key_id = "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
        return cls(access_key_id=key_id, secret_access_key=secrets.token_urlsafe(30))

    def applied_to(self, settings: Settings) -> Settings:
        """``settings`` signing with these credentials."""
        aws = msgspec.structs.replace(
            settings.aws, access_key_id=self.access_key_id, secret_access_key=self.secret_access_key
        )
        return msgspec.structs.replace(settings, aws=aws)

    def environment(self) -> dict[str, str]:
        """The variables that give a child process these credentials (``Settings.from_env`` reads them)."""
        wanted = {("aws", "access_key_id"), ("aws", "secret_access_key")}
        mine = self.applied_to(Settings())
        return {v.name: str(v.value(mine)) for v in VARIABLES if v.path in wanted}

    @classmethod
    def of(cls, settings: Settings) -> Credentials | None:
        """The credentials ``settings`` sign with, when they name both parts."""
        aws: AwsSettings = settings.aws
        if not aws.access_key_id or not aws.secret_access_key:
            return None
        return cls(access_key_id=aws.access_key_id, secret_access_key=aws.secret_access_key)


def credentials_path(state_dir: Path | str) -> Path:
    return Path(state_dir) / CREDENTIALS_FILE


def load(state_dir: Path | str) -> Credentials | None:
    """The state folder's credentials; None when no stack has used the folder yet."""
    try:
        return msgspec.json.decode(credentials_path(state_dir).read_bytes(), type=Credentials)
    except FileNotFoundError:
        return None


def load_or_create(state_dir: Path | str) -> Credentials:
    """The state folder's credentials, made (and saved, 0600) on the first start of a stack there."""
    kept = load(state_dir)
    if kept is not None:
        return kept
    made = Credentials.generate()
    path = credentials_path(state_dir)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # written whole under another name, then renamed: a reader never sees half a file
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, msgspec.json.encode(made))
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return made
