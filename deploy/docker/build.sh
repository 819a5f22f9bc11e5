#!/usr/bin/env bash
# Builds the Lambda container image of every service (deploy/docker/<service>.Dockerfile), and with a registry
# pushes them to Amazon ECR. Prints the image URIs as Terraform's `images` map on stdout (logs go to stderr):
#
#   deploy/docker/build.sh                                  build and tag locally (shoebox/<service>:<tag>)
#   deploy/docker/build.sh --registry 123456789012.dkr.ecr.eu-west-1.amazonaws.com > images.tfvars
#                                                           build, create the ECR repositories if missing,
#                                                           push, and print the pushed digests
#
# Options: --registry HOST (ECR: ACCOUNT.dkr.ecr.REGION.amazonaws.com), --tag TAG (default: the commit, with
# -dirty for uncommitted changes), --platform linux/amd64|linux/arm64 (default linux/amd64: the Lambda
# functions' architecture must match), --repository-prefix NAME (default shoebox: repositories
# NAME/<service>), and service names to build only those. BASE_IMAGE=python@sha256:... builds on a base the
# operator pinned; otherwise the tag python:3.11-slim-bookworm is pulled once and resolved to its digest, and
# every image of the run is built FROM that one digest.
#
# Needs: docker (BuildKit), and with --registry the AWS CLI v2 signed in to the account. `task images -- ...`
# runs this script. The files it builds from are generated: a stale one stops the build (task images:check).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

REGISTRY=""
TAG=""
PLATFORM="linux/amd64"
REPOSITORY_PREFIX="shoebox"
ONLY=()

say() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: error: %s\n' "$*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --registry) REGISTRY="${2:?--registry needs a host}"; shift 2 ;;
    --tag) TAG="${2:?--tag needs a value}"; shift 2 ;;
    --platform) PLATFORM="${2:?--platform needs a value}"; shift 2 ;;
    --repository-prefix) REPOSITORY_PREFIX="${2:?--repository-prefix needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    -*) die "unknown option $1 (--help)" ;;
    *) ONLY+=("$1"); shift ;;
  esac
done

command -v docker >/dev/null 2>&1 || die "docker is not installed"
[[ -x "$PYTHON" ]] || die "no $PYTHON: run scripts/bootstrap first"

# The Dockerfiles and requirements are generated from uv.lock and the topology: never build stale ones.
"$PYTHON" -m deploy.docker.images check >&2 || die "stale image files: run \`task images:write\` and commit"

declare -A DOCKERFILE=()
SERVICES=()
while read -r service dockerfile; do
  SERVICES+=("$service")
  DOCKERFILE[$service]="$dockerfile"
done < <("$PYTHON" -m deploy.docker.images list)
if [[ ${#ONLY[@]} -gt 0 ]]; then
  for service in "${ONLY[@]}"; do
    [[ -n "${DOCKERFILE[$service]:-}" ]] || die "no image for '$service' (one of: ${SERVICES[*]})"
  done
  SERVICES=("${ONLY[@]}")
fi

if [[ -z "$TAG" ]]; then
  TAG="$(git rev-parse --short=12 HEAD)"
  if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
    TAG="$TAG-dirty"
  fi
fi

# One base for the whole run, by digest: the five images share it, and the log says which it was.
BASE="${BASE_IMAGE:-}"
if [[ -z "$BASE" ]]; then
  say "resolving python:3.11-slim-bookworm to its digest"
  docker pull --quiet --platform "$PLATFORM" python:3.11-slim-bookworm >&2
  BASE="$(docker image inspect --format '{{index .RepoDigests 0}}' python:3.11-slim-bookworm)"
fi
case "$BASE" in
  *@sha256:*) ;;
  *) die "BASE_IMAGE must name a digest (python@sha256:...), not '$BASE'" ;;
esac
say "base $BASE, platform $PLATFORM, tag $TAG"

REGION=""
if [[ -n "$REGISTRY" ]]; then
  command -v aws >/dev/null 2>&1 || die "--registry needs the AWS CLI"
  # ACCOUNT.dkr.ecr.REGION.amazonaws.com
  REGION="$(printf '%s' "$REGISTRY" | sed -n 's/^[0-9]*\.dkr\.ecr\.\([a-z0-9-]*\)\.amazonaws\.com.*$/\1/p')"
  [[ -n "$REGION" ]] || die "--registry '$REGISTRY' is no ECR registry (ACCOUNT.dkr.ecr.REGION.amazonaws.com)"
  say "signing docker in to $REGISTRY"
  aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY" >&2
fi

declare -A URI=()
for service in "${SERVICES[@]}"; do
  repository="$REPOSITORY_PREFIX/$service"
  ref="$repository:$TAG"
  if [[ -n "$REGISTRY" ]]; then ref="$REGISTRY/$ref"; fi
  say "building $ref from ${DOCKERFILE[$service]}"
  # --provenance=false: one image manifest, not an index with attestations (Lambda takes only the former)
  DOCKER_BUILDKIT=1 docker build \
    --file "${DOCKERFILE[$service]}" \
    --platform "$PLATFORM" \
    --provenance=false \
    --build-arg "BASE_IMAGE=$BASE" \
    --label "org.opencontainers.image.revision=$(git rev-parse HEAD)" \
    --label "org.opencontainers.image.base.name=$BASE" \
    --tag "$ref" \
    . >&2
  if [[ -z "$REGISTRY" ]]; then
    URI[$service]="$ref"
    continue
  fi
  if ! aws ecr describe-repositories --region "$REGION" --repository-names "$repository" >/dev/null 2>&1; then
    say "creating the ECR repository $repository (immutable tags, scan on push)"
    aws ecr create-repository --region "$REGION" --repository-name "$repository" \
      --image-tag-mutability IMMUTABLE \
      --image-scanning-configuration scanOnPush=true \
      --encryption-configuration encryptionType=AES256 >/dev/null
  fi
  say "pushing $ref"
  docker push --quiet "$ref" >&2
  # by digest: what Terraform deploys cannot change under the same name
  digest="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" \
    | grep -m1 "^$REGISTRY/$repository@sha256:" || true)"
  [[ -n "$digest" ]] || die "no digest for $ref after the push"
  URI[$service]="$digest"
done

# Terraform's `images` variable (var.images: service -> image URI), aligned as `terraform fmt` writes it.
width=0
for service in "${SERVICES[@]}"; do
  if (( ${#service} > width )); then width=${#service}; fi
done
printf 'images = {\n'
for service in "${SERVICES[@]}"; do
  printf '  %-*s = "%s"\n' "$width" "$service" "${URI[$service]}"
done
printf '}\n'
