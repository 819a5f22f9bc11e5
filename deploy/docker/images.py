"""The container images, one per service: what each installs and runs, and the files that build it.

``python -m deploy.docker.images write`` regenerates, from ``uv.lock`` and the topology, the two committed
files per service; ``check`` fails when one is stale (``task images:check``; tests/iac/test_images.py):

- ``deploy/docker/requirements/<service>.txt``: ``uv export`` of the service's extra beside the image extras
  (:data:`IMAGE_EXTRAS`), with hashes, no project and no dependency group. Committed rather than exported
  inside the build so the build needs neither uv nor the lock in its context, installs offline-reproducibly
  (``pip install --no-deps --require-hashes``: exactly these files, nothing pip resolves on its own), and a
  fast test can read what an image installs without Docker.
- ``deploy/docker/<service>.Dockerfile``: one template (:func:`dockerfile`); the services differ only in
  their extra, whether they carry Debian's ffmpeg (the topology's ``needs_ffmpeg``), and their entry points.

Every image copies ``shared/`` and its own ``services/<service>/`` alone: no service imports another
(tests/unit/test_dependencies.py), and nothing an entry point runs imports ``deploy`` or ``shoebox_cli``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from deploy.topology import TOPOLOGY

ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = ROOT / "deploy" / "docker"
REQUIREMENTS_DIR = DOCKER_DIR / "requirements"
#: the project's name in uv.lock
PROJECT = "shoebox"

#: Debian bookworm, CPython 3.11: the glibc (2.36) the pyvips, numpy and Pillow wheels need, Debian's
#: ffmpeg, and the Python CI tests with. Pinned by tag here; deploy/docker/build.sh resolves it to one digest
#: per build and passes that as BASE_IMAGE, so all five images of a build share the same base.
BASE_IMAGE = "python:3.11-slim-bookworm"
#: Beside its service's extra, every image installs: the Lambda runtime interface client (its ENTRYPOINT),
#: and the OTLP span exporter (Terraform's ``otel_exporter = "otlp"`` sets SHOEBOX_TELEMETRY_EXPORTER=otlp on
#: any function, so every image must be able to import it).
IMAGE_EXTRAS = ("lambda", "otlp")
#: Distributions left out of every image although a dependency declares them, with the reason. What only
#: they bring in is left out too (:func:`pruned`); the slow test in tests/iac/test_images.py imports every
#: entry point in a virtual environment built from the requirements alone, which shows nothing needs them.
WITHOUT: dict[str, str] = {
    "rich": "litestar declares it for its command line (litestar/cli) alone, which a Lambda never runs",
    "rich-click": "litestar declares it for its command line (litestar/cli) alone, which a Lambda never runs",
}
#: The non-root user the functions run as (Lambda runs images as a user of its own, which must read /var/task
#: too: the code is world-readable and owned by root, so neither user can change it).
USER = "shoebox"
UID = 10001


class Image(msgspec.Struct, frozen=True, kw_only=True):
    """One service's image."""

    service: str
    #: ``[project.optional-dependencies]`` name
    extra: str
    #: carries Debian's ffmpeg/ffprobe (the topology's ``needs_ffmpeg``)
    heavy: bool
    #: the default CMD: the SQS consumer (``${prefix}-<service>``)
    handler: str
    #: every entry point a function built from this image runs (Terraform's ``image_config.command``)
    entry_points: tuple[str, ...]

    @property
    def dockerfile(self) -> Path:
        return DOCKER_DIR / f"{self.service}.Dockerfile"

    @property
    def requirements(self) -> Path:
        return REQUIREMENTS_DIR / f"{self.service}.txt"


def _image(service: str) -> Image:
    # the api's SQS consumer has a module of its own: its lambda_function is the HTTP API behind API Gateway
    consumer = "lambda_consumer" if service == "api" else "lambda_function"
    entry_points = [f"services.{service}.{consumer}.handler", f"services.{service}.{consumer}.sweep"]
    if service == "api":
        # the HTTP API's function, and the outbox relay on the events stream (it needs the runtime alone)
        entry_points += ["services.api.lambda_function.handler", "shared.runtime.relay.lambda_handler"]
    return Image(
        service=service,
        extra=service.replace("_", "-"),
        heavy=TOPOLOGY.consumer(service).needs_ffmpeg,
        handler=entry_points[0],
        entry_points=tuple(entry_points),
    )


#: One image per service of the topology, by service name (Terraform's ``var.images`` keys).
IMAGES: dict[str, Image] = {c.service: _image(c.service) for c in TOPOLOGY.consumers}


def uv() -> str:
    """The uv that wrote uv.lock (scripts/bootstrap pins it into .tools/), else one on PATH."""
    pinned = ROOT / ".tools" / "bin" / "uv"
    found = str(pinned) if pinned.exists() else shutil.which("uv")
    if found is None:
        raise SystemExit("uv not found: run scripts/bootstrap")
    return found


def lock_packages() -> dict[str, list[dict[str, Any]]]:
    """uv.lock's packages by name (a name the resolver forked by Python version has several entries)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    out: dict[str, list[dict[str, Any]]] = {}
    for package in lock["package"]:
        out.setdefault(package["name"], []).append(package)
    return out


def closure(extras: tuple[str, ...], without: frozenset[str] = frozenset()) -> set[str]:
    """The distributions the project's ``extras`` install, following uv.lock (every marker taken: a superset
    on any one platform), not entering the ``without`` ones."""
    packages = lock_packages()
    (project,) = packages[PROJECT]
    # the project's own dependencies (msgspec, the contracts') come with any extra
    todo: list[dict[str, Any]] = [*project.get("dependencies", ())]
    todo += [d for e in extras for d in project["optional-dependencies"][e]]
    seen: set[str] = set()
    while todo:
        dep = todo.pop()
        name = dep["name"]
        if name in without:
            continue
        for package in packages[name]:
            for extra in dep.get("extra", ()):
                todo.extend(package.get("optional-dependencies", {}).get(extra, ()))
            if name not in seen:
                todo.extend(package.get("dependencies", ()))
        seen.add(name)
    return seen


def pruned(image: Image) -> list[str]:
    """What the image leaves out: :data:`WITHOUT`, and what only they bring in."""
    extras = (image.extra, *IMAGE_EXTRAS)
    return sorted(closure(extras) - closure(extras, frozenset(WITHOUT)))


def source_only(image: Image) -> list[str]:
    """What the image installs that the lock has no wheel of (pyvips 3 is published as an sdist alone): pip
    builds these in the deps stage (``--no-binary``); everything else must be a wheel."""
    packages = lock_packages()
    keep = closure((image.extra, *IMAGE_EXTRAS), frozenset(WITHOUT))
    return sorted(n for n in keep if n != PROJECT and not any(p.get("wheels") for p in packages[n]))


def export_command(image: Image) -> list[str]:
    """The ``uv export`` that writes an image's requirements: its extra and the image extras, from the lock
    as it is (``--frozen``), without the project itself, any dependency group (stack, dev, tools), or what
    :func:`pruned` leaves out."""
    extras = [arg for extra in (image.extra, *IMAGE_EXTRAS) for arg in ("--extra", extra)]
    leave_out = [arg for name in pruned(image) for arg in ("--no-emit-package", name)]
    return [
        "uv",
        "export",
        "--frozen",
        "--no-dev",
        "--no-default-groups",
        *extras,
        "--no-emit-project",
        *leave_out,
    ]


def requirements(image: Image) -> str:
    """What the image installs: pinned, hashed, with uv's header naming the command."""
    command = export_command(image)
    done = subprocess.run(
        [uv(), *command[1:]], cwd=ROOT, capture_output=True, text=True, check=False, env=_uv_env()
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return done.stdout


def _uv_env() -> dict[str, str]:
    # quiet and offline: --frozen reads the lock alone
    return {**os.environ, "UV_NO_PROGRESS": "1", "UV_OFFLINE": "1"}


def declared_extras() -> set[str]:
    """The extras pyproject.toml declares."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(pyproject["project"]["optional-dependencies"])


def dockerfile(image: Image) -> str:
    """The image's Dockerfile (one template for all)."""
    svc = image.service
    req = image.requirements.relative_to(ROOT).as_posix()
    others = ", ".join(image.entry_points[1:])
    sources = source_only(image)
    no_binary = "".join(f" --no-binary={name}" for name in sources)
    source_note = (
        [
            "# pyvips: its sdist builds in ABI mode here (no compiler, no libvips headers), loading the",
            "# libvips that pyvips-binary's wheel ships at run time; its build requirements (setuptools,",
            "# cffi, pkgconfig) come from the index unpinned: the one input of the build no hash pins",
        ]
        if "pyvips" in sources
        else []
    )
    ffmpeg = (
        [
            "# ffprobe/ffmpeg for the videos (topology needs_ffmpeg): Debian's, the build CI tests with",
            "RUN apt-get update \\",
            " && apt-get install -y --no-install-recommends ffmpeg \\",
            " && rm -rf /var/lib/apt/lists/*",
            "",
        ]
        if image.heavy
        else ["# no ffmpeg: this service reads no video (topology needs_ffmpeg is false)", ""]
    )
    lines = [
        "# syntax=docker/dockerfile:1",
        "# GENERATED by `python -m deploy.docker.images write` (deploy/docker/images.py): do not edit.",
        f"# The {svc} service's Lambda image: build from the repository root,",
        f"#   docker build -f {image.dockerfile.relative_to(ROOT).as_posix()} .",
        "# (deploy/docker/build.sh builds, tags and pushes all of them).",
        "",
        f"ARG BASE_IMAGE={BASE_IMAGE}",
        "",
        "# ---- deps: the service's locked wheels in a virtual environment (pip's cache stays out)",
        "FROM ${BASE_IMAGE} AS deps",
        "ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        f"COPY {req} /tmp/requirements.txt",
        "# exactly the exported pins, each checked against the lock's hashes; wheels only, but for what is",
        "# published as source alone (built here: the final stage gets no compiler or build requirement)",
        *source_note,
        "# then no package manager in the function: nothing imports pip or setuptools at run time (26 MB)",
        "RUN python -m venv /opt/venv \\",
        f" && /opt/venv/bin/pip install --no-deps --require-hashes --only-binary=:all:{no_binary} \\",
        "      -r /tmp/requirements.txt \\",
        " && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools",
        "",
        "# ---- the function",
        "FROM ${BASE_IMAGE}",
        *ffmpeg,
        f"RUN useradd --system --uid {UID} --user-group --no-create-home --shell /usr/sbin/nologin {USER}",
        "COPY --from=deps /opt/venv /opt/venv",
        "WORKDIR /var/task",
        "# the contracts and runtime, and this service alone (no service imports another)",
        "COPY --chmod=0755 services/__init__.py services/__init__.py",
        "COPY --chmod=0755 shared/ shared/",
        f"COPY --chmod=0755 services/{svc}/ services/{svc}/",
        "# bytecode now: Lambda's file system is read-only, and every cold start would compile it again",
        "RUN python -m compileall -q shared services",
        "ENV PATH=/opt/venv/bin:$PATH \\",
        "    LAMBDA_TASK_ROOT=/var/task \\",
        "    PYTHONPATH=/var/task \\",
        "    PYTHONDONTWRITEBYTECODE=1 \\",
        "    PYTHONUNBUFFERED=1 \\",
        "    HOME=/tmp",
        f"USER {USER}",
        'ENTRYPOINT ["/opt/venv/bin/python", "-m", "awslambdaric"]',
        f"# other entry points (Terraform image_config.command): {others}",
        f'CMD ["{image.handler}"]',
    ]
    return "\n".join(lines) + "\n"


def generated() -> dict[Path, str]:
    """Every committed file this module writes, with its expected text."""
    missing = {i.extra for i in IMAGES.values()} | set(IMAGE_EXTRAS)
    missing -= declared_extras()
    if missing:
        raise SystemExit(f"pyproject.toml declares no extra {sorted(missing)}")
    out: dict[Path, str] = {}
    for image in IMAGES.values():
        out[image.requirements] = requirements(image)
        out[image.dockerfile] = dockerfile(image)
    return out


def stale() -> list[Path]:
    """The generated files whose committed text differs (or that are missing)."""
    return [path for path, text in generated().items() if not path.exists() or path.read_text() != text]


def write() -> list[Path]:
    """Rewrite what changed; returns the files written."""
    written = []
    for path, text in generated().items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    """``write`` | ``check`` | ``list`` (service, heavy, Dockerfile: what build.sh iterates)."""
    command = argv[0] if argv else "check"
    if command == "write":
        for path in write():
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    if command == "check":
        bad = stale()
        for path in bad:
            print(f"stale: {path.relative_to(ROOT)} (run `python -m deploy.docker.images write`)")
        return 1 if bad else 0
    if command == "list":
        for image in IMAGES.values():
            print(image.service, image.dockerfile.relative_to(ROOT).as_posix())
        return 0
    print("usage: python -m deploy.docker.images write|check|list", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
