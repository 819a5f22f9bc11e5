# PLACEHOLDER (tfinfra): names as the interface fixes them; no resources.

locals {
  functions = { for c in var.topology.consumers : c.service => "${var.prefix}-${replace(c.service, "_", "-")}" }
}

output "function_names" {
  value = local.functions
}
output "function_arns" {
  value = { for s, n in local.functions : s => "arn:aws:lambda:placeholder:function:${n}" }
}
output "sweeper_function_names" {
  value = { for s, n in local.functions : s => "${n}-sweep" }
}
output "role_arns" {
  value = {}
}
output "function_timeouts" {
  value = { for c in var.topology.consumers : local.functions[c.service] => c.handler_timeout_s }
}
