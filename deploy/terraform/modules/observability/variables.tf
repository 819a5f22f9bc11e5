variable "prefix" {
  description = "Starts every resource name, e.g. shoebox-dev"
  type        = string
}

variable "dlq_names" {
  description = "Every DLQ's name, by service: each gets a depth alarm"
  type        = map(string)
}

variable "function_names" {
  description = "Every Lambda function's name (consumers, sweepers, the HTTP API's, the relay), by a key known at plan time: each gets an errors and a duration alarm"
  type        = map(string)
}

variable "function_timeouts" {
  description = "Each function's timeout in seconds, by function name (missing: default_timeout_s)"
  type        = map(number)
  default     = {}
}

variable "default_timeout_s" {
  description = "The timeout assumed for a function missing from function_timeouts"
  type        = number
  default     = 900
}

variable "duration_alarm_ratio" {
  description = "A function's duration alarm fires when its longest run reaches this share of its timeout"
  type        = number
  default     = 0.8
}

variable "state_machine_arns" {
  description = "Every saga's state machine ARN, by name: failed and timed-out executions alarm"
  type        = map(string)
}

variable "relay_failure_topic_name" {
  description = "The topic the relay's on-failure destination writes to (a message there is a batch the relay gave up on); null: no alarm"
  type        = string
  default     = null
}

variable "alarm_email" {
  description = "An address subscribed to the alarm topic (null: none; subscribe your own endpoints)"
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "The key that encrypts the alarm topic (its policy must let cloudwatch.amazonaws.com use it: the storage module's does)"
  type        = string
}

variable "tags" {
  description = "Tags on every resource"
  type        = map(string)
  default     = {}
}
