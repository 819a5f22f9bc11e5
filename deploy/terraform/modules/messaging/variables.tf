variable "prefix" {
  description = "Starts every resource name, e.g. shoebox-dev"
  type        = string
}

variable "topology" {
  description = "deploy/terraform/topology.json, decoded, with the prefix already in its names: the bus, every consumer's queue, DLQ and rules"
  type        = any
}

variable "bucket_name" {
  description = "The media bucket (its Object Created events reach the default bus)"
  type        = string
}

variable "events_stream_arn" {
  description = "The event log's stream: the relay's source"
  type        = string
}

variable "events_table_arn" {
  description = "The event log table"
  type        = string
}

variable "relay_image_uri" {
  description = "The image the relay runs from (the api's: the relay needs only the runtime extra)"
  type        = string
}

variable "kms_key_arn" {
  description = "The stack's key: the log table's stream, the relay's environment and logs, the failure topic"
  type        = string
}

variable "environment" {
  description = "The common SHOEBOX_* environment (root local.environment); the relay adds its OTEL_SERVICE_NAME"
  type        = map(string)
  default     = {}
}

variable "archive_retention_days" {
  description = "How long the bus archive keeps events for replay (0: forever)"
  type        = number
  default     = 30
}

variable "relay_max_retries" {
  description = "Retries of a failing stream batch (halved each time by bisect) before its record goes to the failure topic"
  type        = number
  default     = 10
}

variable "log_retention_days" {
  description = "Retention of the relay's log group"
  type        = number
  default     = 30
}

variable "relay_reserved_concurrency" {
  description = "Reserved concurrency of the relay (one per stream shard is enough)"
  type        = number
  default     = 10
}

variable "tags" {
  description = "Tags on every resource"
  type        = map(string)
  default     = {}
}
