"""deploy/docker/build.sh (``task images``): what it asks docker and the AWS CLI to do, and the map it prints.

No Docker daemon and no AWS here: ``docker`` and ``aws`` are stand-ins on PATH that log their arguments and
answer what the script reads (a base digest, a pushed digest, a missing repository). The script itself runs
as an operator would run it.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import ROOT

SERVICES = ("api", "media_process", "selection", "enhance", "video")
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
BASE = "python@sha256:" + "b" * 64

FAKE_DOCKER = r"""#!/usr/bin/env bash
echo "docker $*" >> "$FAKE_LOG"
case "$1" in
  login) cat > /dev/null; exit 0 ;;  # reads the password from stdin, as docker does
  pull|push|build) exit 0 ;;
  image)
    ref="${@: -1}"
    if [[ "$ref" == python:3.11-slim-bookworm ]]; then
      echo "python@sha256:$(printf 'b%.0s' {1..64})"; exit 0
    fi
    name="${ref%:*}"
    printf '%s@sha256:%s\n' "$name" "$(printf '%s' "$name" | sha256sum | cut -c1-64)"
    exit 0 ;;
esac
echo "fake docker: unexpected $*" >&2; exit 2
"""

FAKE_AWS = r"""#!/usr/bin/env bash
echo "aws $*" >> "$FAKE_LOG"
case "$1 $2" in
  "ecr get-login-password") echo secret ;;
  "ecr describe-repositories") [[ "$*" == *shoebox/api* ]] && exit 0; exit 254 ;;
  "ecr create-repository") echo '{}' ;;
  *) echo "fake aws: unexpected $*" >&2; exit 2 ;;
esac
"""


def run_build(tmp_path: Path, *args: str, base: str | None = BASE) -> tuple[str, list[str]]:
    """Run the script with the stand-ins; returns (stdout, the logged docker/aws calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("aws", FAKE_AWS)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.log"
    log.touch()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(log)}
    env.pop("BASE_IMAGE", None)
    if base:
        env["BASE_IMAGE"] = base
    done = subprocess.run(
        ["bash", str(ROOT / "deploy/docker/build.sh"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, log.read_text().splitlines()


def images_map(stdout: str) -> dict[str, str]:
    """The printed ``images = { ... }`` block as a dict (and nothing else on stdout)."""
    match = re.fullmatch(r"images = \{\n((?:  \w+ +=\s\"[^\"]+\"\n)+)\}\n", stdout)
    assert match, stdout
    return dict(re.findall(r"^  (\w+) += \"([^\"]+)\"$", match[1], re.M))


def test_pushes_every_image_to_ecr_and_prints_digests(tmp_path: Path) -> None:
    stdout, calls = run_build(tmp_path, "--registry", REGISTRY, "--tag", "t1")
    images = images_map(stdout)
    assert tuple(images) == SERVICES
    for service, uri in images.items():
        assert re.fullmatch(rf"{re.escape(REGISTRY)}/shoebox/{service}@sha256:[0-9a-f]{{64}}", uri), uri
    builds = [c for c in calls if c.startswith("docker build ")]
    assert len(builds) == len(SERVICES)
    for service, build in zip(SERVICES, builds, strict=True):
        assert f"--file deploy/docker/{service}.Dockerfile" in build
        assert f"--build-arg BASE_IMAGE={BASE}" in build
        assert "--provenance=false" in build
        assert f"--tag {REGISTRY}/shoebox/{service}:t1" in build
        assert build.endswith(" .")
    assert [c for c in calls if c.startswith("docker push")] == [
        f"docker push --quiet {REGISTRY}/shoebox/{s}:t1" for s in SERVICES
    ]
    assert "aws ecr get-login-password --region eu-west-1" in calls
    created = [c for c in calls if c.startswith("aws ecr create-repository")]
    # the stand-in knows shoebox/api already: the script creates the four others only
    assert [
        re.search(r"--repository-name (\S+)", c)[1] for c in created if re.search(r"--repository-name", c)
    ] == [f"shoebox/{s}" for s in SERVICES if s != "api"]
    assert all("--image-tag-mutability IMMUTABLE" in c for c in created)


def test_builds_locally_without_a_registry(tmp_path: Path) -> None:
    """No registry: images are built and tagged, nothing is pushed, no AWS call; the base tag is resolved
    to one digest for every image."""
    stdout, calls = run_build(tmp_path, "--tag", "t2", "selection", "video", base=None)
    assert images_map(stdout) == {"selection": "shoebox/selection:t2", "video": "shoebox/video:t2"}
    assert not [c for c in calls if c.startswith(("aws", "docker push", "docker login"))]
    assert "docker pull --quiet --platform linux/amd64 python:3.11-slim-bookworm" in calls
    builds = [c for c in calls if c.startswith("docker build ")]
    assert len(builds) == 2
    assert all(f"--build-arg BASE_IMAGE={BASE}" in b for b in builds)


@pytest.mark.parametrize(
    ("args", "env_base", "message"),
    [
        (("nope",), BASE, "no image for 'nope'"),
        (("--registry", "registry.example.com"), BASE, "is no ECR registry"),
        ((), "python:3.11-slim-bookworm", "must name a digest"),
    ],
)
def test_refuses(tmp_path: Path, args: tuple[str, ...], env_base: str, message: str) -> None:
    """An unknown service, a registry that is not ECR, or a base not pinned by digest stop the build."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("aws", FAKE_AWS)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_LOG": str(tmp_path / "log"),
        "BASE_IMAGE": env_base,
    }
    done = subprocess.run(
        ["bash", str(ROOT / "deploy/docker/build.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert message in done.stderr
