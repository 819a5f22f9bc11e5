"""The compute and api Terraform modules against the topology, the app and the IAM table.

Parsed with python-hcl2 (no plan: there is no AWS here). Each check is a function of a module directory, run
on the real modules and, once, on a broken copy in ``tmp_path`` that it must refuse: the guarantee is seen
failing. What is checked:

- every topology consumer gets a function (memory, timeout from the topology), a queue mapping (batch size
  from the topology, partial batch responses) and a sweeper, all by ``for_each`` over the topology; its
  entry points exist in the code;
- only ``needs_ffmpeg`` services get the heavy ``/tmp``; each service runs its own image;
- the HTTP routes: ``/v1`` behind the JWT authorizer, the page's routes without; they match the app's;
- every role's actions (and S3 prefixes) are exactly those ``docs/deploy-iam.md`` lists for it.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.support.paths import ROOT

TERRAFORM = ROOT / "deploy" / "terraform"
COMPUTE = TERRAFORM / "modules" / "compute"
API = TERRAFORM / "modules" / "api"
IAM_DOC = ROOT / "docs" / "deploy-iam.md"
TOPOLOGY: dict[str, Any] = json.loads((TERRAFORM / "topology.json").read_text(encoding="utf-8"))
CONSUMERS = {c["service"]: c for c in TOPOLOGY["consumers"]}


# --------------------------------------------------------------------------- reading HCL
def unquote(value: Any) -> Any:
    """python-hcl2 8 keeps the quotes of strings and block labels: drop them, recursively."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    return value


def load(module: Path) -> dict[str, list[Any]]:
    """Every top-level block of the module's ``.tf`` files, by kind (``resource``, ``data``, ...)."""
    blocks: dict[str, list[Any]] = {}
    for path in sorted(module.glob("*.tf")):
        with path.open(encoding="utf-8") as f:
            for kind, items in unquote(hcl2.load(f)).items():
                blocks.setdefault(kind, []).extend(items)
    return blocks


def resource(blocks: dict[str, list[Any]], kind: str, name: str, *, data: bool = False) -> dict[str, Any]:
    for item in blocks.get("data" if data else "resource", []):
        if kind in item and name in item[kind]:
            found: dict[str, Any] = item[kind][name]
            return found
    raise AssertionError(f"no {'data ' if data else ''}{kind}.{name}")


def local(blocks: dict[str, list[Any]], name: str) -> Any:
    for item in blocks.get("locals", []):
        if name in item:
            return item[name]
    raise AssertionError(f"no local.{name}")


def one(block: Any) -> dict[str, Any]:
    """A nested block python-hcl2 gives as a list of one."""
    assert isinstance(block, list) and len(block) == 1, block
    found: dict[str, Any] = block[0]
    return found


def copy(module: Path, tmp_path: Path) -> Path:
    broken = tmp_path / module.name
    shutil.copytree(module, broken)
    return broken


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --------------------------------------------------------------------------- compute: the topology
def each_value(expr: Any, consumer: dict[str, Any]) -> Any:
    """``${each.value.<field>}`` for one consumer; anything else as it is."""
    m = re.fullmatch(r"\$\{each\.value\.(\w+)\}", str(expr))
    return consumer[m.group(1)] if m else expr


def check_functions_follow_the_topology(module: Path) -> None:
    blocks = load(module)
    assert "var.topology.consumers" in str(local(blocks, "consumers")), (
        "consumers must come from the topology"
    )
    fn = resource(blocks, "aws_lambda_function", "consumer")
    esm = resource(blocks, "aws_lambda_event_source_mapping", "consumer")
    sweeper = resource(blocks, "aws_lambda_function", "sweeper")
    schedule = resource(blocks, "aws_scheduler_schedule", "sweep")
    for block in (fn, esm, sweeper, schedule):
        assert block["for_each"] == "${local.consumers}", "one per topology consumer, no literal list"
    for service, c in CONSUMERS.items():
        assert each_value(fn["memory_size"], c) == c["memory_mb"], service
        assert each_value(fn["timeout"], c) == c["handler_timeout_s"], service
        assert each_value(esm["batch_size"], c) == c["batch_size"], service
        # AWS refuses a mapping whose queue hides a message for less than the function may run
        assert c["visibility_timeout_s"] >= c["handler_timeout_s"], service
    assert esm["function_response_types"] == ["ReportBatchItemFailures"]
    assert esm["event_source_arn"] == "${var.queue_arns[each.key]}"
    assert "${each.value.dead_letter_sweep_minutes}" in schedule["schedule_expression"]
    assert (
        one(fn["tracing_config"])["mode"] == "Active" and one(sweeper["tracing_config"])["mode"] == "Active"
    )
    # the access map decides every topology service's data access: none defaulted, none left over
    assert set(local(blocks, "access")) == set(CONSUMERS)


def test_every_consumer_has_a_function_sized_from_the_topology() -> None:
    check_functions_follow_the_topology(COMPUTE)


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("main.tf", "memory_size   = each.value.memory_mb", "memory_size   = 1024"),
        ("main.tf", 'function_response_types = ["ReportBatchItemFailures"]', "function_response_types = []"),
        ("main.tf", "batch_size       = each.value.batch_size", "batch_size       = 10"),
    ],
)
def test_a_function_not_sized_from_the_topology_is_refused(
    tmp_path: Path, file: str, old: str, new: str
) -> None:
    broken = copy(COMPUTE, tmp_path)
    edit(broken / file, old, new)
    with pytest.raises(AssertionError):
        check_functions_follow_the_topology(broken)


def entry_points(blocks: dict[str, list[Any]], service: str) -> tuple[str, str]:
    """The consumer's and the sweeper's ``image_config.command`` for ``service``, expanded."""
    mapping = local(blocks, "entry_module")  # a for expression over the consumers, one lookup each
    m = re.search(r'lookup\((\{.*?\}), s, "(.*?)"\)', mapping)
    assert m and "local.consumers" in mapping, mapping
    named = dict(re.findall(r'(\w+) = "([\w.]+)"', m.group(1)))
    module = named.get(service, m.group(2).replace("${s}", service))
    out = []
    for name in ("consumer", "sweeper"):
        (command,) = one(resource(blocks, "aws_lambda_function", name)["image_config"])["command"]
        out.append(command.replace("${local.entry_module[each.key]}", module))
    return out[0], out[1]


def test_each_function_runs_its_services_entry_point_in_its_services_image() -> None:
    blocks = load(COMPUTE)
    for name in ("consumer", "sweeper"):
        assert resource(blocks, "aws_lambda_function", name)["image_uri"] == "${var.images[each.key]}"
    for service in CONSUMERS:
        handler, sweep = entry_points(blocks, service)
        expected = (
            "services.api.lambda_consumer" if service == "api" else f"services.{service}.lambda_function"
        )
        assert (handler, sweep) == (f"{expected}.handler", f"{expected}.sweep")
        module = importlib.import_module(expected)  # the image's CMD must name a real callable
        assert callable(module.handler) and callable(module.sweep)


def heavy_services(module: Path) -> set[str]:
    """The services whose function gets the heavy /tmp, by evaluating the ephemeral size's conditional."""
    fn = resource(load(module), "aws_lambda_function", "consumer")
    size = one(fn["ephemeral_storage"])["size"]
    m = re.fullmatch(r"\$\{each\.value\.(\w+) \? var\.(\w+) : var\.(\w+)\}", size)
    assert m, f"the ephemeral size must follow one topology flag: {size}"
    flag, then, _ = m.groups()
    return {s for s, c in CONSUMERS.items() if c[flag]} if then == "heavy_ephemeral_storage_mb" else set()


def test_only_ffmpeg_services_get_the_heavy_tmp() -> None:
    assert heavy_services(COMPUTE) == {s for s, c in CONSUMERS.items() if c["needs_ffmpeg"]}


def test_a_heavy_tmp_for_everyone_is_refused(tmp_path: Path) -> None:
    broken = copy(COMPUTE, tmp_path)
    edit(broken / "main.tf", "each.value.needs_ffmpeg ?", "each.value.memory_mb ?")
    with pytest.raises(AssertionError):
        assert heavy_services(broken) == {s for s, c in CONSUMERS.items() if c["needs_ffmpeg"]}


# --------------------------------------------------------------------------- api: the routes
def app_paths() -> set[str]:
    """Every path the API app serves on AWS (its own issuer off), in API Gateway's ``{name}`` form."""
    from services.api.app import create_app
    from services.api.wiring import Collaborators
    from shared.runtime.config import ApiSettings, AuthSettings, Settings

    settings = Settings(
        auth=AuthSettings(issuer="https://issuer.example", audience="client"),
        api=ApiSettings(allowed_hosts="api.example"),
    )
    app = create_app(settings, collaborators=Collaborators.in_memory(settings))
    return {re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path) for r in app.routes}


def check_routes(module: Path) -> None:
    blocks = load(module)
    public, protected = local(blocks, "public_routes"), local(blocks, "protected_routes")
    pub = resource(blocks, "aws_apigatewayv2_route", "public")
    pro = resource(blocks, "aws_apigatewayv2_route", "protected")
    assert pub["for_each"] == "${toset(local.public_routes)}" and pub["authorization_type"] == "NONE"
    assert "authorizer_id" not in pub
    assert pro["for_each"] == "${toset(local.protected_routes)}" and pro["authorization_type"] == "JWT"
    assert pro["authorizer_id"] == "${aws_apigatewayv2_authorizer.cognito.id}"
    authorizer = resource(blocks, "aws_apigatewayv2_authorizer", "cognito")
    assert authorizer["authorizer_type"] == "JWT"
    assert one(authorizer["jwt_configuration"])["audience"] == ["${aws_cognito_user_pool_client.page.id}"]
    paths = app_paths()
    for key in public:
        path = key.split(" ", 1)[1]
        assert not path.startswith("/v1"), f"{key}: an API route without the authorizer"
        assert path in paths, f"{key}: the app serves no {path}"
    assert protected == ["ANY /v1/{proxy+}"], protected
    page = {"/", "/static/{name}", "/auth/config"}
    assert page <= {k.split(" ", 1)[1] for k in public}, "the page must load without a token"
    assert any(p.startswith("/v1/") for p in paths)


def test_v1_routes_carry_the_authorizer_and_the_page_does_not() -> None:
    check_routes(API)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"GET /health"]', '"GET /health", "GET /v1/sessions"]'),  # an API route made public
        ('authorization_type = "JWT"', 'authorization_type = "NONE"'),
        ('public_routes = ["GET /", "GET /static/{name}"', 'public_routes = ["GET /"'),  # the page's files
    ],
)
def test_a_route_on_the_wrong_side_is_refused(tmp_path: Path, old: str, new: str) -> None:
    broken = copy(API, tmp_path)
    edit(broken / "main.tf", old, new)
    with pytest.raises(AssertionError):
        check_routes(broken)


def test_the_api_function_is_configured_for_the_gateway() -> None:
    blocks = load(API)
    fn = resource(blocks, "aws_lambda_function", "api")
    assert one(fn["image_config"])["command"] == ["services.api.lambda_function.handler"]
    env = one(fn["environment"])["variables"]
    for name in (
        "SHOEBOX_AUTH_ISSUER",
        "SHOEBOX_AUTH_AUDIENCE",
        "SHOEBOX_AUTH_HOSTED_UI_URL",
        "SHOEBOX_API_ALLOWED_HOSTS",
        "SHOEBOX_API_STREAM_MAX_S",
        "SHOEBOX_AWS_STATE_MACHINE_ARN_PREFIX",
    ):
        assert name in env, name
    integration = resource(blocks, "aws_apigatewayv2_integration", "app")
    # the function answers before the gateway gives up, and a stream ends before the function does
    assert fn["timeout"] < integration["timeout_milliseconds"] / 1000
    stream_max = next(v for v in load(API)["variable"] if "stream_max_s" in v)["stream_max_s"]["default"]
    assert stream_max < fn["timeout"]
    client = resource(blocks, "aws_cognito_user_pool_client", "page")
    assert client["generate_secret"] is False and client["allowed_oauth_flows"] == ["code"]
    assert client["allowed_oauth_scopes"] == ["openid", "email", "profile"]


# --------------------------------------------------------------------------- IAM: the table and the HCL
S3_FIELDS = {"s3:GetObject": "s3_read", "s3:PutObject": "s3_write", "s3:DeleteObject": "s3_delete"}
S3_FIELDS["s3:ListBucket"] = "s3_list"


def statements(blocks: dict[str, list[Any]], name: str) -> list[tuple[str, dict[str, Any]]]:
    """The policy document's statements, each with the ``for_each`` that gates it ("" when static)."""
    doc = resource(blocks, "aws_iam_policy_document", name, data=True)
    out = [("", s) for s in doc.get("statement", [])]
    for dyn in doc.get("dynamic", []):
        body = dyn["statement"]
        out.append((str(body["for_each"]), one(body["content"])))
    return out


def gate_applies(gate: str, kind: str, access: dict[str, Any]) -> bool:
    """Whether a statement's ``for_each`` gives this function the statement (the module's own idioms)."""
    if not gate:
        return True
    if "if_consumer" in gate or "if_sweeper" in gate:
        return (kind == "consumer") == ("if_consumer" in gate)
    if m := re.search(r"access(?:\[each\.value\.service\])?\.(s3_\w+)\[0\]", gate):
        return bool(access[m.group(1)])
    if ".gemini" in gate:
        return bool(access["gemini"])
    if "data_kms_key_arns" in gate:
        return True  # given to all when keys are given
    raise AssertionError(f"a statement gated by something this test does not know: {gate}")


def prefixes(statement: dict[str, Any], access: dict[str, Any]) -> set[str]:
    """The key prefixes an S3 statement grants (from the access map, or literal)."""
    where = [str(statement["resources"])]
    where += [str(c["values"]) for c in statement.get("condition", [])]
    text = " ".join(where)
    if m := re.search(r"access(?:\[each\.value\.service\])?\.(s3_\w+)", text):
        return set(access[m.group(1)])
    return set(re.findall(r"/(\w+/)\*", text))


Grants = dict[str, dict[str, set[str]]]  # function -> action -> S3 prefixes (empty for other services)


def hcl_grants(compute: Path, api: Path) -> Grants:
    """What each function's role allows, read from the HCL: ``<service>`` and ``<service>-sweep`` for the
    compute module's functions, ``api-http`` for the api module's."""
    grants: Grants = {}
    blocks = load(compute)
    access_map = local(blocks, "access")
    for service in CONSUMERS:
        for kind, name in (("consumer", service), ("sweeper", f"{service}-sweep")):
            got = grants.setdefault(name, {})
            for gate, st in statements(blocks, "function"):
                if gate_applies(gate, kind, access_map[service]):
                    for action in st["actions"]:
                        here = prefixes(st, access_map[service]) if action.startswith("s3:") else set()
                        got.setdefault(action, set()).update(here)
    api_blocks = load(api)
    api_access = local(api_blocks, "access")
    api_access = {
        k: local(api_blocks, "all_prefixes") if "all_prefixes" in str(v) else v for k, v in api_access.items()
    }
    got = grants.setdefault("api-http", {})
    for _, st in statements(api_blocks, "api"):
        for action in st["actions"]:
            here = prefixes(st, api_access) if action.startswith("s3:") else set()
            got.setdefault(action, set()).update(here)
    return grants


def doc_grants(doc: Path) -> Grants:
    """What ``docs/deploy-iam.md``'s table grants each function (rows of ``all``, ``consumers``,
    ``sweepers``, a service, ``api-http``)."""
    rows = [line for line in doc.read_text(encoding="utf-8").split("## The table", 1)[1].splitlines()]
    names = {s: (s, f"{s}-sweep") for s in CONSUMERS}
    targets = {
        "all": (*[n for pair in names.values() for n in pair], "api-http"),
        "consumers": tuple(CONSUMERS),
        "sweepers": tuple(f"{s}-sweep" for s in CONSUMERS),
        "api-http": ("api-http",),
        **names,
    }
    grants: Grants = {name: {} for name in targets["all"]}
    for line in rows:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) != 4 or cells[0] in ("function", "---"):
            continue
        who, action, where = cells[0], cells[1].strip("`"), cells[2]
        assert who in targets, f"the table names an unknown function: {who}"
        found = set(re.findall(r"`(\w+/)\*`", where)) if action.startswith("s3:") else set()
        for name in targets[who]:
            grants[name].setdefault(action, set()).update(found)
    return grants


def check_iam_matches_the_doc(compute: Path, api: Path, doc: Path) -> None:
    hcl, documented = hcl_grants(compute, api), doc_grants(doc)
    assert set(hcl) == set(documented)
    for name in sorted(hcl):
        assert hcl[name] == documented[name], (
            f"{name}: the HCL grants {hcl[name]}, the doc {documented[name]}"
        )
    for grants in hcl.values():
        for action in grants:
            assert ":" in action and "*" not in action, f"a wildcard action: {action}"


def test_every_roles_actions_are_the_documented_ones() -> None:
    check_iam_matches_the_doc(COMPUTE, API, IAM_DOC)


def test_an_undocumented_action_or_prefix_is_refused(tmp_path: Path) -> None:
    compute, api = copy(COMPUTE, tmp_path), copy(API, tmp_path)
    # an action the code does not need
    edit(
        compute / "iam.tf",
        '"dynamodb:ConditionCheckItem"]',
        '"dynamodb:ConditionCheckItem", "dynamodb:Scan"]',
    )
    with pytest.raises(AssertionError, match="dynamodb:Scan"):
        check_iam_matches_the_doc(compute, API, IAM_DOC)
    # a prefix the service does not touch
    edit(
        api / "iam.tf",
        's3_write  = ["uploads/", "results/"]',
        's3_write  = ["uploads/", "results/", "enhanced/"]',
    )
    with pytest.raises(AssertionError, match="api-http"):
        check_iam_matches_the_doc(COMPUTE, api, IAM_DOC)
    # a documented grant the HCL no longer gives
    doc = tmp_path / "deploy-iam.md"
    doc.write_text(
        IAM_DOC.read_text(encoding="utf-8").replace(
            "| video | `ssm:GetParameter`", "| api | `ssm:GetParameter`"
        )
    )
    with pytest.raises(AssertionError):
        check_iam_matches_the_doc(COMPUTE, API, doc)


# ------------------------------------------------------------------------- reserved concurrency floor
#: an SQS event source mapping's maximum concurrency is at least 2 (AWS refuses less); the compute module sets
#: it to the function's reserved concurrency, so that is at least 2 wherever it is chosen
MAPPING_CONCURRENCY_FLOOR = 2


def concurrency_problems(terraform: Path) -> list[str]:
    """Every reserved concurrency an environment or a default gives a consumer, below the mapping's floor."""
    problems = []
    for tfvars in sorted((terraform / "envs").glob("*.tfvars")):
        chosen = unquote(hcl2.loads(tfvars.read_text(encoding="utf-8"))).get("reserved_concurrency", {})
        problems += [f"{tfvars.name}: {s} = {n}" for s, n in chosen.items() if n < MAPPING_CONCURRENCY_FLOOR]
    variables = unquote(
        hcl2.loads((terraform / "modules" / "compute" / "variables.tf").read_text(encoding="utf-8"))
    )
    default = next(
        v for block in variables["variable"] for k, v in block.items() if k == "default_reserved_concurrency"
    )
    if default["default"] < MAPPING_CONCURRENCY_FLOOR:
        problems.append(f"default_reserved_concurrency = {default['default']}")
    return problems


def test_every_consumer_gets_the_mapping_s_concurrency_floor(tmp_path: Path) -> None:
    terraform = ROOT / "deploy" / "terraform"
    assert concurrency_problems(terraform) == []
    copy = tmp_path / "terraform"
    shutil.copytree(terraform, copy)
    dev = copy / "envs" / "dev.tfvars"
    dev.write_text(
        dev.read_text(encoding="utf-8").replace("video         = 2", "video         = 1"), encoding="utf-8"
    )
    assert concurrency_problems(copy) == ["dev.tfvars: video = 1"]
