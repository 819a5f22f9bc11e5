# Least-privilege roles: one per function (consumer and sweeper of each service), written from what the
# code calls; docs/deploy-iam.md lists every action with its resource and the code that needs it, and
# tests/iac/test_compute_api.py checks the two agree.

locals {
  # What each service's code reads, writes, deletes and lists in the media bucket (key prefixes of
  # shared/runtime/inbound.py), and whether it calls Gemini (its key from SSM). A service of the topology
  # missing here fails the plan: its access must be decided, not defaulted.
  access = {
    api = {
      s3_read   = ["uploads/"]
      s3_write  = []
      s3_delete = []
      s3_list   = ["uploads/"]
      gemini    = false
    }
    media_process = {
      s3_read   = ["uploads/"]
      s3_write  = ["thumbnails/", "converted/", "previews/"]
      s3_delete = ["uploads/"]
      s3_list   = []
      gemini    = false
    }
    selection = {
      s3_read   = ["thumbnails/", "previews/", "results/"]
      s3_write  = ["results/"]
      s3_delete = []
      s3_list   = []
      gemini    = true
    }
    enhance = {
      s3_read   = ["uploads/", "enhanced/"]
      s3_write  = ["enhanced/"]
      s3_delete = []
      s3_list   = []
      gemini    = true
    }
    video = {
      s3_read   = ["uploads/", "previews/", "enhanced/"]
      s3_write  = ["enhanced/"]
      s3_delete = []
      s3_list   = []
      gemini    = true
    }
  }
}

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    sid     = "LambdaAssumes"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = local.functions
  name               = each.key
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "function" {
  for_each = local.functions

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    # X-Ray's trace-writing actions have no resource type: "*" is the only resource they take
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # the consumer: its queue through the event source mapping, and its URL (shared/runtime/lambda_sqs._wire)
  dynamic "statement" {
    for_each = each.value.if_consumer
    content {
      sid       = "OwnQueue"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
      resources = [var.queue_arns[each.value.service]]
    }
  }

  # the consumer gives a message up to its DLQ itself (shared/runtime/dead_letters.give_up_to_dead_letters)
  dynamic "statement" {
    for_each = each.value.if_consumer
    content {
      sid       = "GiveUpToDeadLetters"
      actions   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
      resources = [var.dlq_arns[each.value.service]]
    }
  }

  # the sweeper: its queue's URL only (lambda_sqs._wire names the queue in what it records)
  dynamic "statement" {
    for_each = each.value.if_sweeper
    content {
      sid       = "OwnQueueName"
      actions   = ["sqs:GetQueueUrl"]
      resources = [var.queue_arns[each.value.service]]
    }
  }

  # the sweeper reads the DLQ and hides what it recorded (dead_letters.DeadLetterSweeper.sweep)
  dynamic "statement" {
    for_each = each.value.if_sweeper
    content {
      sid       = "SweepDeadLetters"
      actions   = ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl"]
      resources = [var.dlq_arns[each.value.service]]
    }
  }

  # the event log (shared/runtime/log.DynamoEventLog): reserve (UpdateItem), commit (a transaction of
  # Puts), is_processed (GetItem), read (Query), read_between (BatchGetItem)
  statement {
    sid       = "EventLog"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"]
    resources = [var.events_table_arn]
  }

  # the read models, in the same transaction (Update, Delete, ConditionCheck) and read by the handlers
  statement {
    sid       = "ReadModels"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
    resources = [var.views_table_arn]
  }

  dynamic "statement" {
    for_each = can(local.access[each.value.service].s3_read[0]) ? [1] : []
    content {
      sid       = "MediaRead"
      actions   = ["s3:GetObject"]
      resources = [for p in local.access[each.value.service].s3_read : "${var.bucket_arn}/${p}*"]
    }
  }

  dynamic "statement" {
    for_each = can(local.access[each.value.service].s3_write[0]) ? [1] : []
    content {
      sid       = "MediaWrite"
      actions   = ["s3:PutObject"]
      resources = [for p in local.access[each.value.service].s3_write : "${var.bucket_arn}/${p}*"]
    }
  }

  dynamic "statement" {
    for_each = can(local.access[each.value.service].s3_delete[0]) ? [1] : []
    content {
      sid       = "MediaDelete"
      actions   = ["s3:DeleteObject"]
      resources = [for p in local.access[each.value.service].s3_delete : "${var.bucket_arn}/${p}*"]
    }
  }

  dynamic "statement" {
    for_each = can(local.access[each.value.service].s3_list[0]) ? [1] : []
    content {
      sid       = "MediaList"
      actions   = ["s3:ListBucket"]
      resources = [var.bucket_arn]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = [for p in local.access[each.value.service].s3_list : "${p}*"]
      }
    }
  }

  # the Gemini key, read once per process (shared/runtime/gemini.gemini_caller)
  dynamic "statement" {
    for_each = local.access[each.value.service].gemini ? [1] : []
    content {
      sid       = "GeminiKey"
      actions   = ["ssm:GetParameter"]
      resources = [var.gemini_key_parameter_arn]
    }
  }

  dynamic "statement" {
    for_each = local.access[each.value.service].gemini ? var.kms_key_arn[*] : []
    content {
      sid       = "GeminiKeyDecrypt"
      actions   = ["kms:Decrypt"]
      resources = [var.kms_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${data.aws_region.current.name}.amazonaws.com"]
      }
    }
  }

  # customer-managed keys of the bucket, tables or queues, when storage/messaging use them
  dynamic "statement" {
    for_each = can(var.data_kms_key_arns[0]) ? [1] : []
    content {
      sid       = "DataKeys"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = var.data_kms_key_arns
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "least-privilege"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function[each.key].json
}

# EventBridge Scheduler runs the sweepers: it may invoke them and nothing else
data "aws_iam_policy_document" "scheduler_trust" {
  statement {
    sid     = "SchedulerAssumes"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.prefix}-sweep-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeSweepers"
    actions   = ["lambda:InvokeFunction"]
    resources = [for f in aws_lambda_function.sweeper : f.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-sweepers"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
