# The API function's role, written from what the app calls (docs/deploy-iam.md, checked by
# tests/iac/test_compute_api.py).

locals {
  # every prefix of shared/runtime/inbound.ALL_PREFIXES: the session cleanup lists and deletes them all
  all_prefixes = ["uploads/", "thumbnails/", "converted/", "previews/", "enhanced/", "results/"]
  access = {
    s3_read   = ["uploads/", "thumbnails/", "previews/", "enhanced/", "results/"]
    s3_write  = ["uploads/", "results/"]
    s3_delete = local.all_prefixes
    s3_list   = local.all_prefixes
  }
}

data "aws_iam_policy_document" "trust" {
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

resource "aws_iam_role" "api" {
  name               = local.function_name
  assume_role_policy = data.aws_iam_policy_document.trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "api" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function.arn}:*"]
  }

  statement {
    # X-Ray's trace-writing actions have no resource type: "*" is the only resource they take
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # the event log (shared/runtime/log.DynamoEventLog): the routes commit events and read sessions' pages
  statement {
    sid       = "EventLog"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"]
    resources = [var.events_table_arn]
  }

  statement {
    sid       = "ReadModels"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
    resources = [var.views_table_arn]
  }

  # thumbnails, results, enhanced files, and the presigned GETs of originals, previews and results
  statement {
    sid       = "MediaRead"
    actions   = ["s3:GetObject"]
    resources = [for p in local.access.s3_read : "${var.bucket_arn}/${p}*"]
  }

  # presigned PUTs and multipart uploads of originals; edited picks under results/
  statement {
    sid       = "MediaWrite"
    actions   = ["s3:PutObject"]
    resources = [for p in local.access.s3_write : "${var.bucket_arn}/${p}*"]
  }

  statement {
    sid       = "MediaMultipart"
    actions   = ["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${var.bucket_arn}/uploads/*"]
  }

  # a triage's confirmed discards (uploads/) and a session's cleanup (every prefix)
  statement {
    sid       = "MediaDelete"
    actions   = ["s3:DeleteObject"]
    resources = [for p in local.access.s3_delete : "${var.bucket_arn}/${p}*"]
  }

  statement {
    sid       = "MediaList"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for p in local.access.s3_list : "${p}*"]
    }
  }

  # sagas started by ARN (SHOEBOX_AWS_STATE_MACHINE_ARN_PREFIX + name: no ListStateMachines)
  statement {
    sid       = "StartSagas"
    actions   = ["states:StartExecution"]
    resources = values(var.state_machine_arns)
  }

  # the api queue's URL goes into each saga's input (shared/runtime/sagas.SqsCommandQueue)
  statement {
    sid       = "CommandQueueUrl"
    actions   = ["sqs:GetQueueUrl"]
    resources = [var.queue_arns["api"]]
  }

  dynamic "statement" {
    for_each = can(var.data_kms_key_arns[0]) ? [1] : []
    content {
      sid       = "DataKeys"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = var.data_kms_key_arns
    }
  }
}

resource "aws_iam_role_policy" "api" {
  name   = "least-privilege"
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api.json
}
