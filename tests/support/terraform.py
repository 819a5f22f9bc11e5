"""The Terraform tree (deploy/terraform) as data, for the IaC tests: each module's HCL parsed with
python-hcl2, and the checks the tests make, written as functions over a tree so that a test can run them on
a broken copy too.

Expressions stay text (``each.value.queue``, ``jsonencode(...)``): the checks read them and evaluate nothing
but the ``for_each`` over the topology, which they expand themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

from tests.support.paths import ROOT

TERRAFORM = ROOT / "deploy" / "terraform"
TOPOLOGY_JSON = TERRAFORM / "topology.json"

_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=True)

#: Actions with no resource type in IAM: "*" is the only Resource they take (documented in docs/deploy.md)
RESOURCELESS_ACTIONS = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }
)


def unwrap(expr: Any) -> str:
    """``${each.value.queue}`` -> ``each.value.queue``; anything else as text."""
    text = expr if isinstance(expr, str) else json.dumps(expr)
    if text.startswith("${") and text.endswith("}"):
        return text[2:-1]
    return text


@dataclass
class Module:
    """One module folder's blocks, merged over its files."""

    path: Path
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.resources.get(kind, {})


def load_module(path: Path) -> Module:
    """Parse every ``.tf`` file of one module folder."""
    module = Module(path)
    for tf in sorted(path.glob("*.tf")):
        parsed = hcl2.loads(tf.read_text(), serialization_options=_OPTIONS)
        for block in parsed.get("resource", []):
            for kind, named in block.items():
                module.resources.setdefault(kind, {}).update(named)
        for block in parsed.get("data", []):
            for kind, named in block.items():
                module.data.setdefault(kind, {}).update(named)
        for block in parsed.get("module", []):
            module.modules.update(block)
        for block in parsed.get("variable", []):
            module.variables.update(block)
        for block in parsed.get("output", []):
            module.outputs.update(block)
        for block in parsed.get("locals", []):
            module.locals.update({k: v for k, v in block.items() if k != "__comments__"})
    return module


@dataclass
class Tree:
    """The root module and its child modules, by the root's module call name."""

    root: Module
    children: dict[str, Module]

    def all(self) -> Iterator[tuple[str, Module]]:
        yield "root", self.root
        yield from self.children.items()


def load_tree(root: Path = TERRAFORM) -> Tree:
    """The root module at ``root`` and every module it calls (local sources)."""
    top = load_module(root)
    children = {
        name: load_module((root / unwrap(call["source"])).resolve()) for name, call in top.modules.items()
    }
    return Tree(top, children)


def topology(prefix: str) -> dict[str, Any]:
    """topology.json with its names for ``prefix``, as the root module decodes it."""
    loaded: dict[str, Any] = json.loads(TOPOLOGY_JSON.read_text().replace("${prefix}", prefix))
    return loaded


# ------------------------------------------------------------------------------- topology expansion
#: resource types whose every instance must come from the topology, and the attribute that names it
FROM_TOPOLOGY = {
    "aws_sqs_queue": "name",
    "aws_cloudwatch_event_rule": "name",
    "aws_sfn_state_machine": "name",
}
_EACH_FIELD = re.compile(r"^each\.value\.([a-z_]+)$")


def _collection(module: Module, for_each: str, topo: dict[str, Any]) -> list[dict[str, Any]] | None:
    """What a ``for_each`` iterates, when it iterates the topology (through a local or directly)."""
    text = for_each
    local = re.fullmatch(r"local\.([a-z_]+)", text)
    if local:
        text = unwrap(module.locals.get(local.group(1), ""))
    if "var.topology.state_machines" in text:
        return list(topo["state_machines"])
    if "var.topology.consumers" in text and ".rules" in text:
        return [{**r, "service": c["service"]} for c in topo["consumers"] for r in c["rules"]]
    if "var.topology.consumers" in text:
        return list(topo["consumers"])
    return None


@dataclass
class Expanded:
    """What Terraform would create from the topology: names, and each one's settings."""

    queues: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> visibility, receive count, dlq
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> bus, pattern
    state_machines: dict[str, str] = field(default_factory=dict)  # name -> definition file
    problems: list[str] = field(default_factory=list)


def expand(tree: Tree, topo: dict[str, Any]) -> Expanded:
    """Expand every queue, rule and state machine of the tree over ``topo``; whatever is not a ``for_each``
    over the topology with its name (and settings) taken from ``each.value`` is a problem."""
    out = Expanded()
    for mname, module in tree.all():
        for kind, name_attr in FROM_TOPOLOGY.items():
            for rname, body in module.of_type(kind).items():
                where = f"{mname}: {kind}.{rname}"
                if kind == "aws_cloudwatch_event_rule" and "event_pattern" not in body:
                    continue  # a schedule (the sweepers'), not a subscription
                items = _collection(module, unwrap(body.get("for_each", "")), topo)
                if items is None:
                    out.problems.append(f"{where} is not a for_each over the topology")
                    continue
                fields = _EACH_FIELD.match(unwrap(body.get(name_attr, "")))
                if not fields:
                    out.problems.append(f"{where}: its {name_attr} is not taken from each.value")
                    continue
                for item in items:
                    _expand_one(out, kind, where, body, item, item[fields.group(1)])
        for tname, target in module.of_type("aws_cloudwatch_event_target").items():
            rule = re.match(r"aws_cloudwatch_event_rule\.([a-z_]+)\[", unwrap(target.get("rule", "")))
            subscription = rule and "event_pattern" in module.of_type("aws_cloudwatch_event_rule").get(
                rule.group(1), {}
            )
            # a subscription delivers to its own consumer's queue, as provision's put_targets does
            if subscription and not re.fullmatch(
                r"aws_sqs_queue\.[a-z_]+\[each\.value\.service\]\.arn", unwrap(target.get("arn", ""))
            ):
                out.problems.append(
                    f"{mname}: aws_cloudwatch_event_target.{tname} is not its consumer's queue"
                )
    return out


def _field(body: dict[str, Any], attr: str, where: str, out: Expanded) -> str | None:
    m = _EACH_FIELD.match(unwrap(body.get(attr, "")))
    if not m:
        out.problems.append(f"{where}: {attr} is not taken from each.value")
        return None
    return m.group(1)


def _expand_one(
    out: Expanded, kind: str, where: str, body: dict[str, Any], item: dict[str, Any], name: str
) -> None:
    if kind == "aws_sqs_queue":
        settings: dict[str, Any] = {}
        if "redrive_policy" in body:
            redrive = unwrap(body["redrive_policy"])
            vis = _field(body, "visibility_timeout_seconds", where, out)
            settings["visibility_timeout_s"] = item.get(vis) if vis else None
            m = re.search(r"maxReceiveCount\s*=\s*each\.value\.([a-z_]+)", redrive)
            if not m:
                out.problems.append(f"{where}: maxReceiveCount is not taken from each.value")
            settings["max_receive_count"] = item.get(m.group(1)) if m else None
            dlq = re.search(r"deadLetterTargetArn\s*=\s*aws_sqs_queue\.([a-z_]+)\[each\.key\]\.arn", redrive)
            if not dlq:
                out.problems.append(f"{where}: its DLQ is not the consumer's own (aws_sqs_queue.X[each.key])")
            settings["dlq_resource"] = dlq.group(1) if dlq else None
        out.queues[name] = settings
    elif kind == "aws_cloudwatch_event_rule":
        pattern = unwrap(body.get("event_pattern", ""))
        m = re.fullmatch(r"jsonencode\(each\.value\.([a-z_]+)\)", pattern)
        if not m:
            out.problems.append(f"{where}: event_pattern is not jsonencode(each.value...)")
        bus = _field(body, "event_bus_name", where, out)
        out.rules[name] = {
            "bus": item.get(bus) if bus else None,
            "pattern": item.get(m.group(1)) if m else None,
        }
    else:
        definition = unwrap(body.get("definition", ""))
        local = re.fullmatch(r"local\.([a-z_]+)\[each\.key\]", definition)
        out.state_machines[name] = item["definition"]
        if "each.value.definition" not in definition and not local:
            out.problems.append(f"{where}: definition is not the topology's ASL file")


# ------------------------------------------------------------------------------------------- IAM
@dataclass(frozen=True)
class Statement:
    where: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    key_policy: bool  # a KMS key policy: its Resource "*" is the key itself


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _document_statements(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from body.get("statement", []) or []
    for dyn in body.get("dynamic", []) or []:
        yield from (dyn.get("statement") or {}).get("content", []) or []


def _jsonencoded(text: str) -> Any:
    m = re.fullmatch(r"\$\{jsonencode\((.*)\)\}", text, re.DOTALL)
    if not m:
        return None
    try:
        return hcl2.loads(f"x = {m.group(1)}\n", serialization_options=_OPTIONS)["x"]
    except Exception:
        return None


def _walk_attributes(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from _walk_attributes(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_attributes(v)


def statements(tree: Tree) -> Iterator[Statement]:
    """Every IAM statement of the tree: policy documents, and jsonencode'd policies in any resource."""
    for mname, module in tree.all():
        key_docs = {
            m.group(1)
            for key in module.of_type("aws_kms_key").values()
            if (
                m := re.fullmatch(
                    r"data\.aws_iam_policy_document\.([a-z_]+)\.json", unwrap(key.get("policy", ""))
                )
            )
        }
        for dname, body in module.data.get("aws_iam_policy_document", {}).items():
            for st in _document_statements(body):
                yield Statement(
                    f"{mname}: data.aws_iam_policy_document.{dname}",
                    str(st.get("effect", "Allow")),
                    tuple(_as_list(st.get("actions"))),
                    tuple(_as_list(st.get("resources"))),
                    dname in key_docs,
                )
        for kind, named in module.resources.items():
            for rname, body in named.items():
                for attr, value in _walk_attributes(body):
                    if not isinstance(value, str) or "jsonencode(" not in value:
                        continue
                    doc = _jsonencoded(value)
                    if not isinstance(doc, dict) or "Statement" not in doc:
                        continue
                    sts = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
                    for st in sts:
                        yield Statement(
                            f"{mname}: {kind}.{rname}.{attr}",
                            str(st.get("Effect", "Allow")),
                            tuple(_as_list(st.get("Action"))),
                            tuple(_as_list(st.get("Resource"))),
                            kind == "aws_kms_key",
                        )


def iam_problems(tree: Tree) -> list[str]:
    """Allow statements with a wildcard action ("*", "svc:*"), or Resource "*" for an action that has a
    resource type (outside key policies). A Deny may name every action: it only narrows."""
    problems: list[str] = []
    for st in statements(tree):
        if st.effect != "Allow":
            continue
        for action in st.actions:
            if action == "*" or action.endswith(":*"):
                problems.append(f"{st.where}: wildcard action {action!r}")
        if "*" in st.resources and not st.key_policy:
            broad = sorted(set(st.actions) - RESOURCELESS_ACTIONS)
            if broad:
                problems.append(f"{st.where}: Resource '*' for {broad}")
    return problems


# ----------------------------------------------------------------------------------- alarms
def _outputs_over(module: Module, kind: str, resource: str) -> set[str]:
    """The module's outputs whose value iterates ``kind.resource``."""
    return {n for n, o in module.outputs.items() if f"{kind}.{resource}" in unwrap(o.get("value", ""))}


def _alarmed_input(tree: Tree, metric: str) -> tuple[set[str], list[str]]:
    """The observability inputs that alarms on ``metric`` iterate (``var.X`` of a for_each)."""
    inputs: set[str] = set()
    for mname, module in tree.all():
        for alarm in module.of_type("aws_cloudwatch_metric_alarm").values():
            if unwrap(alarm.get("metric_name", "")) == metric:
                m = re.fullmatch(r"var\.([a-z_]+)", unwrap(alarm.get("for_each", "")))
                if m:
                    inputs.add(f"{mname}.{m.group(1)}")
    return inputs, []


def _passed(tree: Tree, alarm_inputs: set[str]) -> str:
    """What the root passes to those inputs, as text."""
    texts = []
    for item in alarm_inputs:
        call, var = item.split(".", 1)
        texts.append(unwrap(tree.root.modules.get(call, {}).get(var, "")))
    return "\n".join(texts)


def alarm_problems(tree: Tree) -> list[str]:
    """Every queue has a DLQ (checked in ``expand``) with a depth alarm; every Lambda function has an errors
    and a duration alarm: each reaches the alarms through a module output the root passes to them."""
    problems: list[str] = []
    dlq_inputs, _ = _alarmed_input(tree, "ApproximateNumberOfMessagesVisible")
    error_inputs, _ = _alarmed_input(tree, "Errors")
    duration_inputs, _ = _alarmed_input(tree, "Duration")
    for what, inputs in (("DLQ depth", dlq_inputs), ("errors", error_inputs), ("duration", duration_inputs)):
        if not inputs:
            problems.append(f"no {what} alarm")
    for mname, module in tree.children.items():
        for qname, queue in module.of_type("aws_sqs_queue").items():
            redrive = unwrap(queue.get("redrive_policy", ""))
            dlq = re.search(r"aws_sqs_queue\.([a-z_]+)\[", redrive)
            if "redrive_policy" in queue and not dlq:
                problems.append(f"{mname}: aws_sqs_queue.{qname} has no DLQ")
            if dlq:
                outs = _outputs_over(module, "aws_sqs_queue", dlq.group(1))
                passed = _passed(tree, dlq_inputs)
                if not any(f"module.{mname}.{o}" in passed for o in outs):
                    problems.append(f"{mname}: DLQ aws_sqs_queue.{dlq.group(1)} has no depth alarm")
            elif "redrive_policy" not in queue and not any(
                re.search(rf"aws_sqs_queue\.{qname}\[", unwrap(q.get("redrive_policy", "")))
                for q in module.of_type("aws_sqs_queue").values()
            ):
                problems.append(f"{mname}: aws_sqs_queue.{qname} is neither a queue with a DLQ nor a DLQ")
        for fname in module.of_type("aws_lambda_function"):
            outs = _outputs_over(module, "aws_lambda_function", fname)
            for what, inputs in (("errors", error_inputs), ("duration", duration_inputs)):
                passed = _passed(tree, inputs)
                if not any(f"module.{mname}.{o}" in passed for o in outs):
                    problems.append(f"{mname}: aws_lambda_function.{fname} has no {what} alarm")
    return problems


# ------------------------------------------------------------------------------------ interfaces
def interface_problems(tree: Tree) -> list[str]:
    """The root's module calls against the modules: every argument declared, every required variable
    given, every ``module.X.Y`` an output of X."""
    problems: list[str] = []
    meta = {"source", "version", "providers", "depends_on", "count", "for_each", "__comments__"}
    for call, args in tree.root.modules.items():
        child = tree.children[call]
        for arg in set(args) - meta:
            if arg not in child.variables:
                problems.append(f"module.{call}: {arg} is not a variable of {child.path.name}")
        for var, spec in child.variables.items():
            if "default" not in spec and var not in args:
                problems.append(f"module.{call}: required variable {var} not given")
    text = "\n".join(tf.read_text() for tf in tree.root.path.glob("*.tf"))
    for call, out in set(re.findall(r"module\.([a-z_]+)\.([a-z_]+)", text)):
        if call not in tree.children:
            problems.append(f"module.{call} is not called")
        elif out not in tree.children[call].outputs:
            problems.append(f"module.{call}.{out} is not an output of {tree.children[call].path.name}")
    return problems
