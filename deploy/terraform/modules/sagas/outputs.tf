output "state_machine_arns" {
  description = "Each saga's state machine ARN, by its name"
  value       = { for k, m in aws_sfn_state_machine.saga : k => m.arn }
}

output "state_machine_names" {
  description = "Each saga's state machine name, by its name"
  value       = { for k, m in aws_sfn_state_machine.saga : k => m.name }
}
