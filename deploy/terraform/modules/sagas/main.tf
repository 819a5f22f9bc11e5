# One Step Functions state machine per topology saga, from the same ASL file the embedded stack runs
# (deploy/sagas/*.asl.json, unchanged: the table and queue come in each execution's input). Each has its own
# role, granted exactly the service integrations its ASL uses.

data "aws_caller_identity" "current" {}

locals {
  machines = { for m in var.topology.state_machines : m.name => m }
  asl      = { for k, m in local.machines : k => file("${var.asl_dir}/${basename(m.definition)}") }
  # which integrations each definition calls (arn:aws:states:::<service>:<action>)
  reads_views   = { for k, a in local.asl : k => strcontains(a, "arn:aws:states:::dynamodb:getItem") }
  sends_command = { for k, a in local.asl : k => strcontains(a, "arn:aws:states:::sqs:sendMessage") }
}

resource "aws_cloudwatch_log_group" "saga" {
  # checkov:skip=CKV_AWS_338: retention is var.log_retention_days (30 days dev, 90 prod): operational logs, not an audit trail; the events themselves live in the log table with PITR
  for_each          = local.machines
  name              = "/aws/vendedlogs/states/${each.value.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "saga" {
  for_each           = local.machines
  name               = each.value.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "saga" {
  for_each = local.machines

  dynamic "statement" {
    for_each = local.reads_views[each.key] ? [1] : []
    content {
      sid       = "PollTheViews"
      actions   = ["dynamodb:GetItem"]
      resources = [var.views_table_arn]
    }
  }
  dynamic "statement" {
    for_each = local.reads_views[each.key] ? [1] : []
    content {
      sid       = "DecryptTheViews"
      actions   = ["kms:Decrypt"]
      resources = [var.kms_key_arn]
    }
  }
  dynamic "statement" {
    for_each = local.sends_command[each.key] ? [1] : []
    content {
      sid       = "SendCommandsToTheStarter"
      actions   = ["sqs:SendMessage"]
      resources = [var.queue_arns[var.command_queue_service]]
    }
  }
  statement {
    # Step Functions' log delivery and X-Ray's write actions have no resource type: "*" is the only resource
    # they take
    sid = "LogsAndTraces"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "saga" {
  for_each = local.machines
  name     = "saga"
  role     = aws_iam_role.saga[each.key].id
  policy   = data.aws_iam_policy_document.saga[each.key].json
}

resource "aws_sfn_state_machine" "saga" {
  for_each   = local.machines
  name       = each.value.name
  type       = "STANDARD"
  role_arn   = aws_iam_role.saga[each.key].arn
  definition = local.asl[each.key]

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.saga[each.key].arn}:*"
    include_execution_data = true # ids and counters only: no media, no keys
    level                  = "ALL"
  }
  tracing_configuration {
    enabled = true
  }
  tags       = var.tags
  depends_on = [aws_iam_role_policy.saga]
}
