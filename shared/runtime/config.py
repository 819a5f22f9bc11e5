"""One typed settings object per process, read from the environment once.

The AWS endpoint is the only thing that differs between the embedded emulator, LocalStack and a real
account: ``SHOEBOX_AWS_ENDPOINT`` (unset on AWS).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec


class Names(msgspec.Struct, frozen=True, kw_only=True):
    """Every AWS resource name, derived from one prefix so two stacks never collide."""

    prefix: str

    @property
    def events_table(self) -> str:
        return f"{self.prefix}-events"

    @property
    def views_table(self) -> str:
        return f"{self.prefix}-views"

    @property
    def media_bucket(self) -> str:
        return f"{self.prefix}-media"

    @property
    def bus(self) -> str:
        return f"{self.prefix}-bus"

    def queue(self, service: str) -> str:
        return f"{self.prefix}-{service.replace('_', '-')}"

    def dead_letter_queue(self, service: str) -> str:
        return f"{self.queue(service)}-dlq"

    def rule(self, service: str, name: str) -> str:
        return f"{self.queue(service)}-{name}"

    def state_machine(self, name: str) -> str:
        return f"{self.prefix}-{name}"


#: the default largest photo and video (bytes); configurable as ``SHOEBOX_MEDIA_MAX_PHOTO_BYTES`` and
#: ``SHOEBOX_MEDIA_MAX_VIDEO_BYTES``, which both the API and media_process read
MAX_PHOTO_BYTES = 200 * 1024 * 1024
MAX_VIDEO_BYTES = 5 * 1024 * 1024 * 1024


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    prefix: str = "shoebox"
    region: str = "us-east-1"
    aws_endpoint: str | None = None  # e.g. http://127.0.0.1:4566 for the embedded stack
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    #: "none" | "console" | "otlp"
    telemetry_exporter: str = "none"
    log_level: str = "INFO"
    log_format: str = "json"  # "json" | "text"
    #: where services make their private temp dirs (None: the system's temp dir)
    tmp_dir: str | None = None
    #: the API refuses a larger upload before it is sent; media_process rejects one as ``too_large``
    media_max_photo_bytes: int = MAX_PHOTO_BYTES
    media_max_video_bytes: int = MAX_VIDEO_BYTES

    @property
    def names(self) -> Names:
        return Names(prefix=self.prefix)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        fields = {
            f: env[f"SHOEBOX_{f.upper()}"] for f in cls.__struct_fields__ if f"SHOEBOX_{f.upper()}" in env
        }
        return msgspec.convert(fields, cls, strict=False)

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``from_env`` return these settings (for child processes)."""
        return {
            f"SHOEBOX_{f.upper()}": str(v)
            for f in self.__struct_fields__
            if (v := getattr(self, f)) is not None
        }
