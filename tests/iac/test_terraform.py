"""deploy/terraform, offline: formatted (Terraform's formatter), loadable (Terraform's loader), every rule,
queue, DLQ and state machine from the one topology and equal to what the embedded stack provisions, a DLQ
and alarms for every queue and function, no wildcard IAM. Each check is also run once on a broken copy and
seen to fail."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest

from deploy import iac
from deploy.local.provision import provision
from deploy.local.topology_export import main as export_main
from deploy.topology import TOPOLOGY
from shared.runtime.config import AwsSettings, Settings
from shared.runtime.inbound import ALL_PREFIXES
from shared.runtime.read_models import TTL_ATTRIBUTE, MultipartView
from tests.support import terraform as tf
from tests.support.paths import ROOT

PREFIX = "shoebox-iac"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of deploy/terraform (and deploy/sagas beside it) to break."""
    shutil.copytree(tf.TERRAFORM, tmp_path / "deploy" / "terraform")
    shutil.copytree(ROOT / "deploy" / "sagas", tmp_path / "deploy" / "sagas")
    return tmp_path / "deploy" / "terraform"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


# ------------------------------------------------------------------------------------------ (a) format
def test_the_tree_is_formatted() -> None:
    rc, files = iac.fmt(check=True)
    assert rc == 0, f"not formatted (python -m deploy.iac fmt): {files}"


def test_the_format_check_fails_on_an_unformatted_file(copy: Path) -> None:
    _edit(copy / "main.tf", '  source              = "./modules/storage"', '  source = "./modules/storage"')
    rc, files = iac.fmt(copy, check=True)
    assert rc == iac.UNFORMATTED
    assert "main.tf" in files


# ------------------------------------------------------------------------------------------ (b) loader
def test_terraform_loads_the_whole_tree() -> None:
    ok, said = iac.load()
    assert ok, said


def test_the_loader_fails_on_an_argument_a_module_does_not_declare(copy: Path) -> None:
    _edit(copy / "main.tf", "  asl_dir            =", "  no_such_input      = 1\n  asl_dir            =")
    ok, said = iac.load(copy)
    assert not ok
    assert "no_such_input" in said


def test_every_module_call_matches_the_modules_interface() -> None:
    assert tf.interface_problems(tf.load_tree()) == []


def test_a_call_to_a_missing_output_is_caught(copy: Path) -> None:
    _edit(copy / "outputs.tf", "module.messaging.dlq_urls", "module.messaging.dlq_addresses")
    assert tf.interface_problems(tf.load_tree(copy)) == [
        "module.messaging.dlq_addresses is not an output of messaging"
    ]


# ------------------------------------------------------------------------------- (c) the topology match
class Recorder:
    """Stands in for the AWS clients while deploy/local/provision.py provisions: records what it creates."""

    def __init__(self) -> None:
        self.settings = Settings(aws=AwsSettings(prefix=PREFIX))
        self.queues: dict[str, dict[str, Any]] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        self.state_machines: dict[str, str] = {}
        self.tables: dict[str, dict[str, Any]] = {}
        self.buckets: list[str] = []
        self.buses: list[str] = []
        self.sqs = self.events = self.dynamodb = self.s3 = self.sfn = self

    async def create_table(self, **spec: Any) -> None:
        self.tables[spec["TableName"]] = spec

    async def create_bucket(self, Bucket: str) -> None:
        self.buckets.append(Bucket)

    async def put_bucket_notification_configuration(self, **_: Any) -> None: ...
    async def delete_bucket_cors(self, **_: Any) -> None: ...
    async def put_bucket_cors(self, **_: Any) -> None: ...
    async def put_bucket_lifecycle_configuration(self, **_: Any) -> None: ...

    async def create_event_bus(self, Name: str) -> None:
        self.buses.append(Name)

    async def create_queue(self, QueueName: str, Attributes: dict[str, str]) -> dict[str, str]:
        self.queues[QueueName] = Attributes
        return {"QueueUrl": f"url:{QueueName}"}

    async def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": f"arn:{QueueUrl.removeprefix('url:')}"}}

    async def set_queue_attributes(self, **_: Any) -> None: ...

    async def put_rule(self, Name: str, EventBusName: str, EventPattern: str, State: str) -> None:
        self.rules[Name] = {"bus": EventBusName, "pattern": json.loads(EventPattern)}

    async def put_targets(self, **_: Any) -> None: ...

    async def list_state_machines(self) -> dict[str, Any]:
        return {"stateMachines": []}

    async def create_state_machine(self, name: str, definition: str, **_: Any) -> dict[str, str]:
        self.state_machines[name] = definition
        return {"stateMachineArn": f"arn:{name}"}


def provisioned() -> Recorder:
    """What the embedded stack creates for PREFIX."""
    recorder = Recorder()
    anyio.run(lambda: provision(recorder, TOPOLOGY))  # type: ignore[arg-type]
    return recorder


def match_problems(expanded: tf.Expanded, local: Recorder) -> list[str]:
    """Where Terraform's expansion and the embedded stack's provisioning disagree."""
    problems = list(expanded.problems)
    if set(expanded.queues) != set(local.queues):
        problems.append(f"queues: terraform {sorted(expanded.queues)} != embedded {sorted(local.queues)}")
    for name, settings in expanded.queues.items():
        attrs = local.queues.get(name, {})
        if "RedrivePolicy" in attrs:
            redrive = json.loads(attrs["RedrivePolicy"])
            want = {
                "visibility_timeout_s": int(attrs["VisibilityTimeout"]),
                "max_receive_count": int(redrive["maxReceiveCount"]),
            }
            got = {k: settings.get(k) for k in want}
            if got != want:
                problems.append(f"{name}: terraform {got} != embedded {want}")
        elif settings:
            problems.append(
                f"{name}: a DLQ in the embedded stack, a queue with a redrive policy in terraform"
            )
    if expanded.rules != local.rules:
        problems.append(f"rules: terraform {expanded.rules} != embedded {local.rules}")
    definitions = {n: (ROOT / d).read_text() for n, d in expanded.state_machines.items()}
    if definitions != local.state_machines:
        problems.append(
            f"state machines: terraform {sorted(definitions)} != embedded {sorted(local.state_machines)}"
        )
    return problems


def test_topology_json_is_the_export() -> None:
    assert export_main(["--check"]) == 0, "run `task topology`"


def test_every_queue_rule_and_state_machine_comes_from_the_topology_and_equals_the_embedded_stack() -> None:
    expanded = tf.expand(tf.load_tree(), tf.topology(PREFIX))
    assert match_problems(expanded, provisioned()) == []
    # and there is something to compare: five consumers, each a queue and a DLQ
    assert len(expanded.queues) == 2 * len(TOPOLOGY.consumers)
    assert len(expanded.state_machines) == len(TOPOLOGY.state_machines)


def test_a_queue_declared_beside_the_topology_is_caught(copy: Path) -> None:
    (copy / "modules" / "messaging" / "extra.tf").write_text(
        'resource "aws_sqs_queue" "extra" {\n  name = "${var.prefix}-extra"\n}\n'
    )
    expanded = tf.expand(tf.load_tree(copy), tf.topology(PREFIX))
    assert "messaging: aws_sqs_queue.extra is not a for_each over the topology" in expanded.problems


def test_a_setting_not_taken_from_the_topology_is_caught(copy: Path) -> None:
    _edit(
        copy / "modules" / "messaging" / "main.tf",
        "visibility_timeout_seconds = each.value.visibility_timeout_s",
        "visibility_timeout_seconds = 30",
    )
    expanded = tf.expand(tf.load_tree(copy), tf.topology(PREFIX))
    assert any("visibility_timeout_seconds is not taken from each.value" in p for p in expanded.problems)


def test_terraform_and_the_embedded_stack_disagreeing_is_caught() -> None:
    topo = tf.topology(PREFIX)
    topo["consumers"][0]["rules"][0]["name"] += "-renamed"
    topo["consumers"][1]["visibility_timeout_s"] += 1
    problems = match_problems(tf.expand(tf.load_tree(), topo), provisioned())
    assert any(p.startswith("rules:") for p in problems)
    assert any("visibility_timeout_s" in p for p in problems)


def test_a_rule_delivering_elsewhere_is_caught(copy: Path) -> None:
    _edit(
        copy / "modules" / "messaging" / "main.tf",
        "arn            = aws_sqs_queue.queue[each.value.service].arn",
        'arn            = aws_sqs_queue.queue["api"].arn',
    )
    expanded = tf.expand(tf.load_tree(copy), tf.topology(PREFIX))
    assert expanded.problems == ["messaging: aws_cloudwatch_event_target.queue is not its consumer's queue"]


def table_problems(root: Path, local: Recorder) -> list[str]:
    """Where the storage module's tables and bucket differ from what provision creates."""
    storage = tf.load_tree(root).children["storage"]
    tables = storage.of_type("aws_dynamodb_table")
    created = {}
    for body in tables.values():
        name = tf.unwrap(body["name"]).replace("${var.prefix}", PREFIX)
        keys = [{"AttributeName": tf.unwrap(body["hash_key"]), "KeyType": "HASH"}]
        keys.append({"AttributeName": tf.unwrap(body["range_key"]), "KeyType": "RANGE"})
        attrs = [{"AttributeName": a["name"], "AttributeType": a["type"]} for a in body["attribute"]]
        created[name] = {
            "KeySchema": keys,
            "AttributeDefinitions": attrs,
            "stream": body.get("stream_view_type"),
        }
    want = {
        n: {
            "KeySchema": s["KeySchema"],
            "AttributeDefinitions": s["AttributeDefinitions"],
            "stream": s.get("StreamSpecification", {}).get("StreamViewType"),
        }
        for n, s in local.tables.items()
    }
    problems = [] if created == want else [f"tables: terraform {created} != embedded {want}"]
    bucket = tf.unwrap(storage.of_type("aws_s3_bucket")["media"]["bucket"]).replace("${var.prefix}", PREFIX)
    if [bucket] != local.buckets:
        problems.append(f"bucket: terraform {bucket} != embedded {local.buckets}")
    return problems


def test_tables_and_bucket_are_named_and_keyed_as_the_embedded_stack_creates_them() -> None:
    assert table_problems(tf.TERRAFORM, provisioned()) == []


def test_a_table_keyed_differently_is_caught(copy: Path) -> None:
    _edit(
        copy / "modules" / "storage" / "tables.tf",
        'name = "sk"\n    type = "N"',
        'name = "sk"\n    type = "S"',
    )
    assert [p[:7] for p in table_problems(copy, provisioned())] == ["tables:"]


def lifecycle_prefixes(root: Path) -> set[str]:
    return set(tf.load_tree(root).children["storage"].variables["expiration_days"]["default"])


def test_the_bucket_lifecycle_covers_every_prefix_the_code_writes(copy: Path) -> None:
    assert lifecycle_prefixes(tf.TERRAFORM) == set(ALL_PREFIXES)
    _edit(copy / "modules" / "storage" / "variables.tf", '    "results"    = 7\n', "")
    assert lifecycle_prefixes(copy) == set(ALL_PREFIXES) - {"results"}


def ttl_attributes(root: Path) -> dict[str, str | None]:
    """Each table's TTL attribute in the storage module (None: no TTL)."""
    tables = tf.load_tree(root).children["storage"].of_type("aws_dynamodb_table")
    found: dict[str, str | None] = {}
    for name, body in tables.items():
        ttl = [t for t in body.get("ttl", []) if t.get("enabled") is True]
        found[name] = tf.unwrap(ttl[0]["attribute_name"]) if ttl else None
    return found


def test_only_the_views_expire_and_on_the_attribute_the_code_writes(copy: Path) -> None:
    """The log never expires; the views' ephemeral items (MULTIPART#) carry the code's TTL attribute."""
    assert ttl_attributes(tf.TERRAFORM) == {"events": None, "views": TTL_ATTRIBUTE}
    assert TTL_ATTRIBUTE in MultipartView.__struct_fields__
    _edit(copy / "modules" / "storage" / "tables.tf", '"expires_at"', '"expiry"')
    assert ttl_attributes(copy)["views"] != TTL_ATTRIBUTE


# ------------------------------------------------------------------------------------ (d) DLQs and alarms
def test_every_queue_has_a_dlq_and_every_dlq_and_function_has_alarms() -> None:
    assert tf.alarm_problems(tf.load_tree()) == []


def test_a_dlq_without_a_depth_alarm_is_caught(copy: Path) -> None:
    _edit(copy / "main.tf", "dlq_names = module.messaging.dlq_names", "dlq_names = {}")
    assert "messaging: DLQ aws_sqs_queue.dlq has no depth alarm" in tf.alarm_problems(tf.load_tree(copy))


def test_a_function_without_alarms_is_caught(copy: Path) -> None:
    _edit(copy / "main.tf", '"relay"    = module.messaging.relay_function_name', "")
    problems = tf.alarm_problems(tf.load_tree(copy))
    assert "messaging: aws_lambda_function.relay has no errors alarm" in problems


def test_a_queue_without_a_dlq_is_caught(copy: Path) -> None:
    (copy / "modules" / "messaging" / "extra.tf").write_text(
        'resource "aws_sqs_queue" "lonely" {\n  name = "x"\n}\n'
    )
    problems = tf.alarm_problems(tf.load_tree(copy))
    assert "messaging: aws_sqs_queue.lonely is neither a queue with a DLQ nor a DLQ" in problems


# --------------------------------------------------------------------------------------------- (e) IAM
def test_no_iam_statement_has_a_wildcard_action_or_an_unscoped_resource() -> None:
    tree = tf.load_tree()
    assert len(list(tf.statements(tree))) > 10  # the check reads them
    assert tf.iam_problems(tree) == []


def test_a_wildcard_action_is_caught(copy: Path) -> None:
    _edit(copy / "modules" / "messaging" / "relay.tf", '"events:PutEvents"', '"events:*"')
    assert tf.iam_problems(tf.load_tree(copy)) == [
        "messaging: data.aws_iam_policy_document.relay: wildcard action 'events:*'"
    ]


def test_a_jsonencoded_policy_is_read_too(copy: Path) -> None:
    (copy / "modules" / "sagas" / "extra.tf").write_text(
        'resource "aws_iam_role_policy" "extra" {\n'
        '  role = "r"\n'
        "  policy = jsonencode({\n"
        '    Version   = "2012-10-17"\n'
        "    Statement = [\n"
        '      { Effect = "Allow", Action = ["sqs:SendMessage"], Resource = "*" },\n'
        '      { Effect = "Allow", Action = "*", Resource = "x" },\n'
        "    ]\n"
        "  })\n"
        "}\n"
    )
    assert tf.iam_problems(tf.load_tree(copy)) == [
        "sagas: aws_iam_role_policy.extra.policy: Resource '*' for ['sqs:SendMessage']",
        "sagas: aws_iam_role_policy.extra.policy: wildcard action '*'",
    ]
