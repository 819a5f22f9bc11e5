"""The Lambda container images (deploy/docker): each installs its service's extra alone and runs its own code.

There is no Docker daemon on the build machines, so the images are never built here. What these tests prove
instead, for every service, from the committed files an image is built from:

- what it installs (``deploy/docker/requirements/<service>.txt``) holds the closure of its extra and the image
  extras in ``uv.lock`` (computed here from the lock's TOML, independently of the generator), and nothing
  from the embedded stack's or the development group that the closure does not hold; no test runner,
  emulator, local server, linter or CLI library at all; every pin carries hashes, and pip installs it with
  ``--no-deps --require-hashes``;
- heavy (the topology's ``needs_ffmpeg``) exactly when the Dockerfile apt-installs ffmpeg;
- its COPY lines name ``shared/`` and its own service alone, and its entry points (the CMD and the rest the
  Terraform interface names) import from a directory holding only those copies, loading no other service,
  no ``deploy`` and no ``shoebox_cli``;
- the base is Debian bookworm-slim with CPython 3.11, the ENTRYPOINT the Lambda runtime interface client, the
  user not root.

Each check is a function returning its problems; ``test_a_broken_copy_is_caught`` runs them on broken
copies (a Dockerfile whose requirements carry the stack group, a light image with ffmpeg, ...) and must see
each fail.
The slow tests build the Python layer of one light (api) and one heavy (media_process) image in a fresh
virtual environment from the requirements alone, and import the entry points there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from deploy.docker import images
from deploy.topology import TOPOLOGY
from tests.support.paths import ROOT

SERVICES = ("api", "media_process", "selection", "enhance", "video")
#: every image installs these beside its service's extra (the runtime interface client, the OTLP exporter)
IMAGE_EXTRAS = ("lambda", "otlp")
#: never in an image, whatever declares them
FORBIDDEN = frozenset(
    {"pytest", "moto", "waitress", "uvicorn", "ruff", "mypy", "playwright", "hypothesis", "rich", "boto3"}
)
#: the entry points docs (/iac interface) give each image: Terraform's image_config.command values
ENTRY_POINTS: dict[str, tuple[str, ...]] = {
    "api": (
        "services.api.lambda_consumer.handler",
        "services.api.lambda_consumer.sweep",
        "services.api.lambda_function.handler",
        "shared.runtime.relay.lambda_handler",
    ),
    **{
        s: (f"services.{s}.lambda_function.handler", f"services.{s}.lambda_function.sweep")
        for s in ("media_process", "selection", "enhance", "video")
    },
}
BASE = re.compile(r"^python:3\.11-slim-bookworm(@sha256:[0-9a-f]{64})?$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ------------------------------------------------------------------------------------ the lock


LOCK: dict[str, Any] = tomllib.loads((ROOT / "uv.lock").read_text())


def lock_closure(roots: list[dict[str, Any]], without: frozenset[str] = frozenset()) -> set[str]:
    """Every package the dependency entries ``roots`` pull in through uv.lock (any marker), not entering
    ``without``."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in LOCK["package"]:
        by_name.setdefault(package["name"], []).append(package)
    out: set[str] = set()
    todo = list(roots)
    while todo:
        dep = todo.pop()
        if dep["name"] in without:
            continue
        first = dep["name"] not in out
        out.add(dep["name"])
        for package in by_name[dep["name"]]:
            if first:
                todo.extend(package.get("dependencies", ()))
            for extra in dep.get("extra", ()):
                todo.extend(package.get("optional-dependencies", {}).get(extra, ()))
    return out


def project() -> dict[str, Any]:
    (found,) = [p for p in LOCK["package"] if p["name"] == "shoebox"]
    return found


def extras_closure(extras: tuple[str, ...], without: frozenset[str] = frozenset()) -> set[str]:
    """The project's own dependencies (msgspec, the contracts') and those of its ``extras``."""
    optional = project()["optional-dependencies"]
    roots = [*project().get("dependencies", ()), *(d for e in extras for d in optional[e])]
    return lock_closure(roots, without)


def group_closure(group: str) -> set[str]:
    return lock_closure(list(project()["dev-dependencies"][group]))


def image_closure(service: str) -> set[str]:
    """What the image must install: its extra and the image extras, less what the images leave out on
    purpose (``images.WITHOUT``, each with its reason; the slow tests show nothing imports them)."""
    return extras_closure((service.replace("_", "-"), *IMAGE_EXTRAS), frozenset(images.WITHOUT))


# ------------------------------------------------------------------------------------ reading the files


class Instruction(NamedTuple):
    keyword: str
    args: str


def instructions(dockerfile: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    out: list[Instruction] = []
    pending = ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, args = whole.partition(" ")
        out.append(Instruction(keyword.upper(), " ".join(args.split())))
    return out


class Requirement(NamedTuple):
    name: str
    hashes: int


def requirements(text: str) -> dict[str, Requirement]:
    """Pinned requirements (``name==version \\`` then ``--hash`` lines), by canonical name."""
    out: dict[str, Requirement] = {}
    current = ""
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==", line)
        if match:
            current = canonical(match[1])
            out[current] = Requirement(current, 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            out[current] = Requirement(current, out[current].hashes + 1)
    return out


class Files(NamedTuple):
    """What one image is built from: its Dockerfile and the requirements file it installs."""

    service: str
    dockerfile: str
    requirements: str


def committed(service: str) -> Files:
    return Files(
        service,
        (ROOT / "deploy" / "docker" / f"{service}.Dockerfile").read_text(),
        (ROOT / "deploy" / "docker" / "requirements" / f"{service}.txt").read_text(),
    )


def copies(files: Files) -> list[tuple[str, str]]:
    """(source, destination) of the COPY lines that take files from the build context."""
    out = []
    for ins in instructions(files.dockerfile):
        if ins.keyword != "COPY":
            continue
        words = [w for w in ins.args.split() if not w.startswith("--chmod") and not w.startswith("--chown")]
        if any(w.startswith("--from") for w in words):
            continue
        *sources, dest = words
        out.extend((s, dest) for s in sources)
    return out


# ------------------------------------------------------------------------------------ the checks


def check_requirements(files: Files) -> list[str]:
    found = requirements(files.requirements)
    installed = set(found)
    needed = image_closure(files.service)
    problems = [f"misses {n} (its extra's closure)" for n in sorted(needed - installed)]
    foreign = (group_closure("stack") | group_closure("dev")) - needed
    problems += [f"installs {n} from the stack or dev group" for n in sorted(installed & foreign)]
    problems += [f"installs {n}, which no image may" for n in sorted(installed & FORBIDDEN)]
    problems += [f"installs {n}, which no extra of it declares" for n in sorted(installed - needed - foreign)]
    problems += [f"{n} has no hash" for n, r in sorted(found.items()) if r.hashes == 0]
    return problems


def check_install(files: Files) -> list[str]:
    """pip installs the service's own requirements file, exactly (no resolving, hashes checked)."""
    problems = []
    own = f"deploy/docker/requirements/{files.service}.txt"
    sources = [s for s, _ in copies(files) if s.startswith("deploy/docker/requirements/")]
    if sources != [own]:
        problems.append(f"copies the requirements {sources}, not {own}")
    pips = [i.args for i in instructions(files.dockerfile) if i.keyword == "RUN" and "pip install" in i.args]
    if len(pips) != 1:
        return [*problems, f"has {len(pips)} pip installs, not one"]
    for flag in ("--no-deps", "--require-hashes", "-r /tmp/requirements.txt"):
        if flag not in pips[0]:
            problems.append(f"pip install lacks {flag}")
    if re.search(r"pip install[^&]*\s(?!-)[A-Za-z]", pips[0].split("-r /tmp/requirements.txt")[-1]):
        problems.append("pip installs a package by name beside the requirements")
    # source builds only for what the lock has no wheel of
    wheel_less = {p["name"] for p in LOCK["package"] if not p.get("wheels")}
    for name in re.findall(r"--no-binary[= ](\S+)", pips[0]):
        if name == ":all:" or set(name.split(",")) - wheel_less:
            problems.append(f"pip builds {name} from source, which has wheels")
    return problems


def pip_install_args(files: Files) -> list[str]:
    """The Dockerfile's ``pip install`` options, as it runs them (the requirements path left out)."""
    (pip,) = [
        i.args for i in instructions(files.dockerfile) if i.keyword == "RUN" and "pip install" in i.args
    ]
    words = pip.split("pip install", 1)[1].split("&&", 1)[0].split()
    return [w for w in words if w not in ("-r", "/tmp/requirements.txt")]


def pip_uninstalls(files: Files) -> list[str]:
    """What the Dockerfile's deps stage uninstalls after the install (pip itself, setuptools)."""
    (pip,) = [
        i.args for i in instructions(files.dockerfile) if i.keyword == "RUN" and "pip install" in i.args
    ]
    found = re.search(r"pip uninstall((?: -\S+)*)((?: [\w-]+)+)", pip)
    return found[2].split() if found else []


def check_ffmpeg(files: Files) -> list[str]:
    heavy = TOPOLOGY.consumer(files.service).needs_ffmpeg
    apt = [
        i.args for i in instructions(files.dockerfile) if i.keyword == "RUN" and "apt-get install" in i.args
    ]
    has = any(re.search(r"\bffmpeg\b", a) for a in apt)
    if heavy and not has:
        return ["heavy (needs_ffmpeg) but installs no ffmpeg"]
    if not heavy and has:
        return ["light (no needs_ffmpeg) but installs ffmpeg"]
    return []


def check_copies(files: Files) -> list[str]:
    allowed = {
        "shared/",
        "services/__init__.py",
        f"services/{files.service}/",
        f"deploy/docker/requirements/{files.service}.txt",
    }
    sources = {s for s, _ in copies(files)}
    problems = [f"copies {s}" for s in sorted(sources - allowed)]
    problems += [f"does not copy {s}" for s in sorted({"shared/", f"services/{files.service}/"} - sources)]
    return problems


def check_base(files: Files) -> list[str]:
    """Every stage starts from bookworm-slim CPython 3.11 (an ARG default resolved), or from an earlier
    stage; the last stage runs awslambdaric as a user that is not root."""
    ins = instructions(files.dockerfile)
    args: dict[str, str] = {}
    stages: set[str] = set()
    problems = []
    for i in ins:
        if i.keyword == "ARG" and "=" in i.args:
            key, _, value = i.args.partition("=")
            args[key] = value
        if i.keyword == "FROM":
            words = i.args.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], "?"), words[0])
            if image not in stages and not BASE.match(image):
                problems.append(f"a stage starts from {image}")
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
    users = [i.args for i in ins if i.keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("runs as root")
    entry = [i.args for i in ins if i.keyword == "ENTRYPOINT"]
    if not entry or '"-m", "awslambdaric"' not in entry[-1]:
        problems.append(f"ENTRYPOINT is {entry}, not python -m awslambdaric")
    return problems


def cmd_of(files: Files) -> str:
    cmds = [i.args for i in instructions(files.dockerfile) if i.keyword == "CMD"]
    match = re.fullmatch(r'\["([\w.]+)"\]', cmds[-1]) if cmds else None
    return match[1] if match else ""


def check_cmd(files: Files) -> list[str]:
    """The CMD is one of the image's entry points, and names a function that exists."""
    cmd = cmd_of(files)
    if cmd not in ENTRY_POINTS[files.service]:
        return [f"CMD {cmd!r} is none of {ENTRY_POINTS[files.service]}"]
    return [f"CMD {p}" for p in missing_functions([cmd], sys.executable, [ROOT])]


CHECKS: dict[str, Callable[[Files], list[str]]] = {
    "requirements": check_requirements,
    "install": check_install,
    "ffmpeg": check_ffmpeg,
    "copies": check_copies,
    "base": check_base,
    "cmd": check_cmd,
}


# ------------------------------------------------------------------------------------ importing


PROBE = textwrap.dedent(
    """
    import importlib, json, sys
    root, entries = sys.argv[1], json.loads(sys.argv[2])
    # the copy alone: not the checkout the editable install puts on the path
    sys.path = [root] + [p for p in sys.path if p and p.rstrip("/") != sys.argv[3].rstrip("/")]
    problems = []
    for entry in entries:
        module, _, name = entry.rpartition(".")
        try:
            found = getattr(importlib.import_module(module), name, None)
        except Exception as exc:
            problems.append(f"{entry}: {type(exc).__name__}: {exc}")
            continue
        if not callable(found):
            problems.append(f"{entry}: no function {name} in {module}")
    loaded = sorted(sys.modules)
    print(json.dumps({"problems": problems, "modules": loaded}))
    """
)


def import_in(python: str, root: Path, entries: list[str], hide: Path) -> tuple[list[str], list[str]]:
    """Import ``entries`` with ``python`` (isolated: no PYTHONPATH, no user site) with ``root`` first on the
    path and nothing under ``hide``; returns (problems, modules loaded)."""
    import json

    done = subprocess.run(
        [python, "-I", "-c", PROBE, str(root), json.dumps(entries), str(hide)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(root)},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    return result["problems"], result["modules"]


def missing_functions(entries: list[str], python: str, roots: list[Path]) -> list[str]:
    problems, _ = import_in(python, roots[0], entries, hide=Path("/nonexistent"))
    return problems


def copy_context(files: Files, into: Path) -> Path:
    """The files the Dockerfile's COPY lines put in /var/task (the requirements stay in the build stage)."""
    task = into / "task"
    task.mkdir()
    for source, dest in copies(files):
        if source.startswith("deploy/"):
            continue
        src = ROOT / source
        target = task / dest
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return task


def foreign_modules(service: str, modules: list[str]) -> list[str]:
    """Loaded project modules an image of ``service`` does not carry."""
    return [
        m
        for m in modules
        if m.split(".")[0] in ("deploy", "shoebox_cli", "benchmarks", "tests")
        or (m.startswith("services.") and m.split(".")[1] != service)
    ]


# ------------------------------------------------------------------------------------ the tests


def test_generated_files_are_current() -> None:
    """The committed Dockerfiles and requirements are what the generator writes from uv.lock today."""
    assert images.stale() == []


def test_every_service_has_an_image() -> None:
    assert tuple(c.service for c in TOPOLOGY.consumers) == SERVICES
    assert set(images.IMAGES) == set(SERVICES)
    for service, image in images.IMAGES.items():
        assert image.entry_points == ENTRY_POINTS[service]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("service", SERVICES)
def test_image(service: str, check: str) -> None:
    assert CHECKS[check](committed(service)) == []


def test_the_build_context_holds_what_the_dockerfiles_copy() -> None:
    """.dockerignore lets in every COPY source and keeps the rest of the checkout (.venv, .git, tests) out."""
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "*"
    let_in = [p[1:] for p in patterns if p.startswith("!")]
    for service in SERVICES:
        for source, _ in copies(committed(service)):
            assert any(source.startswith(p) for p in let_in), (service, source)
    assert not any(p.startswith((".venv", ".git", "tests", "deploy/local", "shoebox_cli")) for p in let_in)


def test_every_leave_out_has_a_reason_and_is_no_import() -> None:
    """What the images leave out is named with a reason, and no project module imports it."""
    for name, reason in images.WITHOUT.items():
        assert len(reason) > 20, name
        for path in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("services/**/*.py")]:
            source = path.read_text()
            module = name.replace("-", "_")
            assert not re.search(rf"^\s*(import|from)\s+{module}\b", source, re.M), (path, name)


@pytest.mark.parametrize("service", SERVICES)
def test_entry_points_import_from_the_copies_alone(service: str, tmp_path: Path) -> None:
    """From a directory holding only what the Dockerfile copies (this checkout hidden), every entry point of
    the image imports, and no other service's module, deploy or shoebox_cli is loaded."""
    files = committed(service)
    task = copy_context(files, tmp_path)
    problems, modules = import_in(sys.executable, task, list(ENTRY_POINTS[service]), hide=ROOT)
    assert problems == []
    assert foreign_modules(service, modules) == []


def broken(service: str, change: Callable[[Files], Files]) -> Files:
    return change(committed(service))


def with_stack_group(files: Files) -> Files:
    """The requirements exported with the embedded stack's group too: the mistake the test exists for."""
    done = subprocess.run(
        [
            images.uv(),
            "export",
            "--frozen",
            "--no-dev",
            "--no-default-groups",
            "--group",
            "stack",
            "--extra",
            files.service.replace("_", "-"),
            *[a for e in IMAGE_EXTRAS for a in ("--extra", e)],
            "--no-emit-project",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "UV_OFFLINE": "1", "UV_NO_PROGRESS": "1"},
    )
    return files._replace(requirements=done.stdout)


def drop_requirement(name: str) -> Callable[[Files], Files]:
    def change(files: Files) -> Files:
        kept, skipping = [], False
        for line in files.requirements.splitlines():
            if re.match(r"^[A-Za-z0-9]", line):
                skipping = line.startswith(f"{name}==")
            if not skipping:
                kept.append(line)
        return files._replace(requirements="\n".join(kept) + "\n")

    return change


def add_requirement(text: str) -> Callable[[Files], Files]:
    return lambda files: files._replace(requirements=files.requirements + text)


def edit(old: str, new: str) -> Callable[[Files], Files]:
    def change(files: Files) -> Files:
        assert old in files.dockerfile, old
        return files._replace(dockerfile=files.dockerfile.replace(old, new))

    return change


FFMPEG_RUN = "RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg\n"

BROKEN: dict[str, tuple[str, Callable[[Files], Files], str, str]] = {
    # name: (service, change, check, a problem it must report)
    "stack group": (
        "selection",
        with_stack_group,
        "requirements",
        "installs moto from the stack or dev group",
    ),
    "dev package": (
        "api",
        add_requirement("pytest==9.0.3 \\\n    --hash=sha256:" + "0" * 64 + "\n"),
        "requirements",
        "installs pytest, which no image may",
    ),
    "missing closure": ("api", drop_requirement("awslambdaric"), "requirements", "misses awslambdaric"),
    "no hashes": (
        "video",
        lambda f: f._replace(requirements=re.sub(r" \\\n\s+--hash=sha256:\w+", "", f.requirements)),
        "requirements",
        "has no hash",
    ),
    "resolving pip": ("enhance", edit("--require-hashes ", ""), "install", "lacks --require-hashes"),
    "source build": ("api", edit("--only-binary=:all:", "--no-binary=:all:"), "install", "from source"),
    "another requirements file": (
        "enhance",
        edit("requirements/enhance.txt", "requirements/api.txt"),
        "install",
        "copies the requirements",
    ),
    "light with ffmpeg": (
        "api",
        edit("FROM ${BASE_IMAGE}\n", "FROM ${BASE_IMAGE}\n" + FFMPEG_RUN),
        "ffmpeg",
        "light",
    ),
    "heavy without ffmpeg": ("video", edit(" ffmpeg \\", " libvips42 \\"), "ffmpeg", "heavy"),
    "copies another service": (
        "selection",
        edit(
            "COPY --chmod=0755 shared/", "COPY services/enhance/ services/enhance/\nCOPY --chmod=0755 shared/"
        ),
        "copies",
        "copies services/enhance/",
    ),
    "copies every service": (
        "video",
        edit("services/video/ services", "services/ services"),
        "copies",
        "copies",
    ),
    "copies deploy": (
        "api",
        edit("WORKDIR /var/task", "WORKDIR /var/task\nCOPY deploy/ deploy/"),
        "copies",
        "deploy/",
    ),
    "other base": ("api", edit("python:3.11-slim-bookworm", "python:3.12-slim-bookworm"), "base", "3.12"),
    "amazon linux base": (
        "media_process",
        edit("ARG BASE_IMAGE=python:3.11-slim-bookworm", "ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.11"),
        "base",
        "lambda/python",
    ),
    "root": ("selection", edit("USER shoebox", "USER root"), "base", "root"),
    "no runtime client": (
        "selection",
        edit('"-m", "awslambdaric"', '"-m", "http.server"'),
        "base",
        "ENTRYPOINT",
    ),
    "cmd names no function": (
        "enhance",
        edit(
            'CMD ["services.enhance.lambda_function.handler"]',
            'CMD ["services.enhance.lambda_function.handle"]',
        ),
        "cmd",
        "none of",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_copy_is_caught(case: str) -> None:
    """Each check fails on a copy broken the way it guards against."""
    service, change, check, expected = BROKEN[case]
    problems = CHECKS[check](broken(service, change))
    assert any(expected in p for p in problems), problems


def test_a_missing_function_is_caught() -> None:
    """The import check behind the CMD check tells a function that does not exist."""
    problems = missing_functions(["services.enhance.lambda_function.handle"], sys.executable, [ROOT])
    assert problems and "no function handle" in problems[0]


def test_a_copy_missing_a_module_is_caught(tmp_path: Path) -> None:
    """The copy-alone import fails when the Dockerfile leaves out what an entry point needs (shared/)."""
    files = edit("COPY --chmod=0755 shared/ shared/\n", "")(committed("selection"))
    task = copy_context(files, tmp_path)
    problems, _ = import_in(sys.executable, task, list(ENTRY_POINTS["selection"]), hide=ROOT)
    assert problems and "No module named 'shared'" in problems[0]


# ------------------------------------------------------------------------------------ the Python layer


def python_layer(service: str, tmp_path: Path) -> tuple[str, Path]:
    """The image's Python layer on this machine: a fresh virtual environment with the requirements alone
    (pip, as the Dockerfile runs it), and a directory with what the Dockerfile copies."""
    files = committed(service)
    venv = tmp_path / "venv"
    # the interpreter this suite runs on is CPython 3.11 like the base image; its venv's own packages stay out
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", *pip_install_args(files), "-q", "--disable-pip-version-check"]
    done = subprocess.run(
        [*pip, "-r", str(ROOT / f"deploy/docker/requirements/{service}.txt")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    if uninstall := pip_uninstalls(files):
        subprocess.run([python, "-m", "pip", "uninstall", "--yes", "--quiet", *uninstall], check=True)
    return python, copy_context(files, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("service", ["api", "media_process"])
def test_python_layer_runs_the_entry_points(service: str, tmp_path: Path) -> None:
    """One light and one heavy image's Python layer, built from its requirements alone, imports every entry
    point: an import error here is a dependency the image would lack. The runtime interface client is there
    and finds the handler the way it does in Lambda."""
    python, task = python_layer(service, tmp_path)
    problems, modules = import_in(python, task, [*ENTRY_POINTS[service], "awslambdaric.bootstrap.run"], ROOT)
    assert problems == []
    assert foreign_modules(service, modules) == []
    for name in images.WITHOUT:
        assert name.replace("-", "_") not in {m.split(".")[0] for m in modules}
    freeze = subprocess.run([python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True)
    installed = {canonical(line.split("==")[0]) for line in freeze.stdout.splitlines()}
    assert installed & FORBIDDEN == set()
