# The outbox relay: the event log's stream -> the bus (shared/runtime/relay.py lambda_handler). It reports
# partial batch failures; a batch that keeps failing is bisected, retried `relay_max_retries` times, and its
# record (shard and sequence range: the events stay in the log) goes to the failure topic, which alarms.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  relay_name = "${var.prefix}-relay"
}

resource "aws_cloudwatch_log_group" "relay" {
  # checkov:skip=CKV_AWS_338: retention is var.log_retention_days (30 days dev, 90 prod): operational logs, not an audit trail; the events themselves live in the log table with PITR
  name              = "/aws/lambda/${local.relay_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic" "relay_failures" {
  name              = "${var.prefix}-relay-failures"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "relay_assume" {
  statement {
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

resource "aws_iam_role" "relay" {
  name               = local.relay_name
  assume_role_policy = data.aws_iam_policy_document.relay_assume.json
  tags               = var.tags
}

# What the relay calls: the stream (read by the event source mapping with this role), events:PutEvents on our
# bus (publish_records), the failure topic (on-failure destination), its log group, X-Ray.
data "aws_iam_policy_document" "relay" {
  statement {
    sid       = "ReadTheLogsStream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    resources = ["${var.events_table_arn}/stream/*"]
  }
  statement {
    sid       = "DecryptTheStream"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "PublishToTheBus"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.bus.arn]
  }
  statement {
    sid       = "OnFailureDestination"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.relay_failures.arn]
  }
  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.relay.arn}:*"]
  }
  statement {
    # X-Ray's write actions have no resource type: "*" is the only resource they take
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "relay" {
  name   = "relay"
  role   = aws_iam_role.relay.id
  policy = data.aws_iam_policy_document.relay.json
}

resource "aws_lambda_function" "relay" {
  # checkov:skip=CKV_AWS_116: a stream-invoked function has no async DLQ; the event source mapping's on-failure destination (the relay-failures topic) takes what fails
  # checkov:skip=CKV_AWS_117: no VPC: the relay reaches only AWS APIs (DynamoDB Streams, EventBridge) and there is no private resource to reach
  # checkov:skip=CKV_AWS_272: code signing does not apply to container images (Lambda signs .zip packages only); the image is pinned by digest in var.images
  function_name                  = local.relay_name
  description                    = "Outbox relay: the event log's stream -> ${var.topology.bus}"
  role                           = aws_iam_role.relay.arn
  package_type                   = "Image"
  image_uri                      = var.relay_image_uri
  architectures                  = ["x86_64"]
  memory_size                    = 256
  timeout                        = 60
  reserved_concurrent_executions = var.relay_reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  image_config {
    command = ["shared.runtime.relay.lambda_handler"]
  }
  environment {
    variables = merge(var.environment, { OTEL_SERVICE_NAME = "relay" })
  }
  tracing_config {
    mode = "Active"
  }
  logging_config {
    log_format = "Text" # the process writes its own JSON lines (SHOEBOX_LOG_FORMAT)
    log_group  = aws_cloudwatch_log_group.relay.name
  }
  tags       = var.tags
  depends_on = [aws_iam_role_policy.relay]
}

resource "aws_lambda_event_source_mapping" "relay" {
  function_name     = aws_lambda_function.relay.arn
  event_source_arn  = var.events_stream_arn
  starting_position = "TRIM_HORIZON" # every event ever committed, also those written before the mapping
  batch_size        = 100
  # one batch per shard at a time: the bus sees a session's events in log order
  parallelization_factor         = 1
  function_response_types        = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = var.relay_max_retries
  maximum_record_age_in_seconds  = -1 # the stream's own 24 h retention bounds it

  destination_config {
    on_failure {
      destination_arn = aws_sns_topic.relay_failures.arn
    }
  }
}
