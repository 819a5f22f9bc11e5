variable "prefix" {
  description = "Starts every resource name, e.g. shoebox-dev"
  type        = string
}

variable "topology" {
  description = "deploy/terraform/topology.json, decoded, with the prefix in its names: the state machines and their ASL files"
  type        = any
}

variable "asl_dir" {
  description = "The folder of the ASL files (deploy/sagas), the same files the embedded stack runs"
  type        = string
}

variable "views_table_arn" {
  description = "The read models table (the sagas' dynamodb:getItem polls)"
  type        = string
}

variable "events_table_arn" {
  description = "The event log table (unused: no saga reads the log; kept for the interface)"
  type        = string
  default     = null
}

variable "queue_arns" {
  description = "Each consumer's queue ARN by service (the sagas send their commands to the starter's queue)"
  type        = map(string)
}

variable "command_queue_service" {
  description = "The service whose queue takes the sagas' commands: the api starts every saga and passes its own queue's URL (shared/runtime/sagas.py SqsCommandQueue)"
  type        = string
  default     = "api"
}

variable "kms_key_arn" {
  description = "The stack's key: the views table is encrypted with it (getItem decrypts), and the log groups"
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the state machines' log groups"
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags on every resource"
  type        = map(string)
  default     = {}
}
