# PLACEHOLDER (tfinfra): the interface of modules/compute (/work/notes/iac-interface.md), so the root parses;
# tfcompute writes the real module and the lead takes theirs at merge.

variable "prefix" {
  type = string
}
variable "topology" {
  type = any
}
variable "images" {
  type = map(string)
}
variable "environment" {
  type = map(string)
}
variable "queue_arns" {
  type = map(string)
}
variable "dlq_arns" {
  type = map(string)
}
variable "bucket_arn" {
  type = string
}
variable "events_table_arn" {
  type = string
}
variable "views_table_arn" {
  type = string
}
variable "events_stream_arn" {
  type    = string
  default = null
}
variable "bus_arn" {
  type    = string
  default = null
}
variable "state_machine_arns" {
  type    = map(string)
  default = {}
}
variable "gemini_key_parameter_arn" {
  type = string
}
variable "kms_key_arn" {
  type    = string
  default = null
}
variable "data_kms_key_arns" {
  type    = list(string)
  default = []
}
variable "log_kms_key_arn" {
  type    = string
  default = null
}
variable "reserved_concurrency" {
  type    = map(number)
  default = {}
}
variable "log_retention_days" {
  type    = number
  default = 30
}
variable "tags" {
  type    = map(string)
  default = {}
}
