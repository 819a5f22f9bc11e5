# The bus, its archive, and every consumer's queue, DLQ and rules: all from the topology
# (deploy/terraform/topology.json), nothing declared beside it. tests/iac checks that the names expand to what
# deploy/local/provision.py creates.

locals {
  consumers = { for c in var.topology.consumers : c.service => c }
  # one entry per subscription, keyed by the rule's name
  rules = merge([
    for c in var.topology.consumers : {
      for r in c.rules : r.name => merge(r, { service = c.service })
    }
  ]...)
}

resource "aws_cloudwatch_event_bus" "bus" {
  name = var.topology.bus
  tags = var.tags
}

# Replay: `aws events start-replay` re-sends archived events to the bus's rules.
resource "aws_cloudwatch_event_archive" "bus" {
  name             = "${var.prefix}-archive"
  description      = "Every event published on ${var.topology.bus}, for replay"
  event_source_arn = aws_cloudwatch_event_bus.bus.arn
  retention_days   = var.archive_retention_days
}

resource "aws_sqs_queue" "dlq" {
  for_each                  = local.consumers
  name                      = each.value.dead_letter_queue
  message_retention_seconds = 1209600 # 14 days, SQS's longest: the sweeper and the operator have time
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_sqs_queue" "queue" {
  for_each                   = local.consumers
  name                       = each.value.queue
  visibility_timeout_seconds = each.value.visibility_timeout_s
  receive_wait_time_seconds  = 20
  # SQS-managed keys: EventBridge and the sagas send without a grant on the stack's key
  sqs_managed_sse_enabled = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_receive_count
  })
  tags = var.tags
}

# Only the consumer's own queue may move messages into its DLQ.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each  = local.consumers
  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.queue[each.key].arn]
  })
}

resource "aws_cloudwatch_event_rule" "subscription" {
  for_each       = local.rules
  name           = each.value.name
  description    = "${each.value.service}: its subscription (services/${each.value.service}/topology.py)"
  event_bus_name = each.value.bus
  event_pattern  = jsonencode(each.value.pattern)
  tags           = var.tags
  # a rule on our bus needs the bus; S3's rules live on the default bus
  depends_on = [aws_cloudwatch_event_bus.bus]
}

resource "aws_cloudwatch_event_target" "queue" {
  for_each       = local.rules
  rule           = aws_cloudwatch_event_rule.subscription[each.key].name
  event_bus_name = each.value.bus
  target_id      = "queue"
  arn            = aws_sqs_queue.queue[each.value.service].arn

  # what EventBridge cannot deliver lands in the consumer's DLQ, where its sweeper records it
  dead_letter_config {
    arn = aws_sqs_queue.dlq[each.value.service].arn
  }
  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }
}

# Each queue and DLQ accepts messages from EventBridge only for the rules of its own consumer.
data "aws_iam_policy_document" "queue" {
  for_each = local.consumers
  statement {
    sid = "RulesOfThisConsumerSend"
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.queue[each.key].arn]
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for k, r in aws_cloudwatch_event_rule.subscription : r.arn if local.rules[k].service == each.key]
    }
  }
}

resource "aws_sqs_queue_policy" "queue" {
  for_each  = local.consumers
  queue_url = aws_sqs_queue.queue[each.key].id
  policy    = data.aws_iam_policy_document.queue[each.key].json
}

data "aws_iam_policy_document" "dlq" {
  for_each = local.consumers
  statement {
    sid = "UndeliveredEventsOfThisConsumer"
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq[each.key].arn]
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for k, r in aws_cloudwatch_event_rule.subscription : r.arn if local.rules[k].service == each.key]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  for_each  = local.consumers
  queue_url = aws_sqs_queue.dlq[each.key].id
  policy    = data.aws_iam_policy_document.dlq[each.key].json
}
