variable "prefix" {
  description = "Starts every resource name (SHOEBOX_PREFIX), e.g. shoebox-dev"
  type        = string
}

variable "topology" {
  description = "The topology (deploy/terraform/topology.json, decoded): one Lambda, queue mapping and DLQ sweeper per consumer"
  type        = any
}

variable "images" {
  description = "Service -> container image URI (deploy/docker/<service>.Dockerfile); heavy images (ffmpeg) for needs_ffmpeg services"
  type        = map(string)
}

variable "environment" {
  description = "The common SHOEBOX_* environment of every function (root local.environment); OTEL_SERVICE_NAME is added per function"
  type        = map(string)
}

variable "queue_arns" {
  description = "Service -> its SQS queue's ARN (messaging)"
  type        = map(string)
}

variable "dlq_arns" {
  description = "Service -> its dead-letter queue's ARN (messaging)"
  type        = map(string)
}

variable "bucket_arn" {
  description = "The media bucket's ARN (storage)"
  type        = string
}

variable "events_table_arn" {
  description = "The events table's ARN (storage)"
  type        = string
}

variable "views_table_arn" {
  description = "The views table's ARN (storage)"
  type        = string
}

variable "events_stream_arn" {
  description = "Accepted for the interface: no consumer reads the events stream (only the relay, messaging)"
  type        = string
  default     = null
}

variable "bus_arn" {
  description = "Accepted for the interface: no consumer calls PutEvents (the relay publishes what they commit to the log)"
  type        = string
  default     = null
}

variable "state_machine_arns" {
  description = "Accepted for the interface: no consumer starts a saga (the API's HTTP function does, modules/api)"
  type        = map(string)
  default     = {}
}

variable "gemini_key_parameter_arn" {
  description = "The SSM parameter holding the Gemini key (secrets): ssm:GetParameter for the services that call Gemini"
  type        = string
}

variable "kms_key_arn" {
  description = "The KMS key the Gemini key parameter is encrypted with (secrets): kms:Decrypt through SSM only; null: none granted"
  type        = string
  default     = null
}

variable "data_kms_key_arns" {
  description = "Customer-managed KMS keys of the bucket, tables or queues (storage, messaging), if any: kms:Decrypt and kms:GenerateDataKey"
  type        = list(string)
  default     = []
}

variable "reserved_concurrency" {
  description = "Service -> reserved concurrency of its consumer (also the queue mapping's maximum concurrency); unlisted services get default_reserved_concurrency; at least 2 (the mapping's floor)"
  type        = map(number)
  default     = {}
}

variable "default_reserved_concurrency" {
  description = "Reserved concurrency of a consumer reserved_concurrency does not list (at least 2)"
  type        = number
  default     = 5
}

variable "heavy_ephemeral_storage_mb" {
  description = "/tmp of the needs_ffmpeg services (originals up to SHOEBOX_MEDIA_MAX_VIDEO_BYTES, previews, renders)"
  type        = number
  default     = 10240
}

variable "light_ephemeral_storage_mb" {
  description = "/tmp of the other services (a photo, its edits)"
  type        = number
  default     = 1024
}

variable "sweeper_memory_mb" {
  description = "Memory of each DLQ sweeper (it records failures; it runs no media work)"
  type        = number
  default     = 1024
}

variable "sweeper_timeout_s" {
  description = "Timeout of each DLQ sweeper (shared/runtime/lambda_sqs.SWEEP_BATCHES receives at most)"
  type        = number
  default     = 300
}

variable "log_retention_days" {
  description = "Retention of every function's log group"
  type        = number
  default     = 30
}

variable "log_kms_key_arn" {
  description = "A KMS key for the log groups (null: CloudWatch Logs' own encryption)"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags on every resource (beside the provider's default_tags)"
  type        = map(string)
  default     = {}
}
