# PLACEHOLDER (tfinfra): the interface of modules/api (/work/notes/iac-interface.md), so the root parses;
# tfcompute writes the real module and the lead takes theirs at merge.

variable "prefix" {
  type = string
}
variable "image_uri" {
  type = string
}
variable "environment" {
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
variable "bus_arn" {
  type = string
}
variable "queue_arns" {
  type = map(string)
}
variable "state_machine_arns" {
  type = map(string)
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
variable "throttle_burst" {
  type = number
}
variable "throttle_rate" {
  type = number
}
variable "cognito_domain_prefix" {
  type = string
}
variable "callback_origins" {
  type = list(string)
}
variable "log_retention_days" {
  type    = number
  default = 30
}
variable "tags" {
  type    = map(string)
  default = {}
}
