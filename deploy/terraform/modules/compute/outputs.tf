output "function_names" {
  description = "Service -> its SQS consumer function's name"
  value       = { for s, f in aws_lambda_function.consumer : s => f.function_name }
}

output "function_arns" {
  description = "Service -> its SQS consumer function's ARN"
  value       = { for s, f in aws_lambda_function.consumer : s => f.arn }
}

output "sweeper_function_names" {
  description = "Service -> its DLQ sweeper function's name"
  value       = { for s, f in aws_lambda_function.sweeper : s => f.function_name }
}

output "role_arns" {
  description = "Function name (consumers and sweepers) -> its IAM role's ARN"
  value       = { for n, r in aws_iam_role.function : n => r.arn }
}

output "function_timeouts" {
  description = "Function name -> timeout (seconds), for the duration alarms (observability)"
  value = merge(
    { for s, f in aws_lambda_function.consumer : f.function_name => f.timeout },
    { for s, f in aws_lambda_function.sweeper : f.function_name => f.timeout },
  )
}
