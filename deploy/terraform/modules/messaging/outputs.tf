output "bus_name" {
  description = "Our event bus"
  value       = aws_cloudwatch_event_bus.bus.name
}

output "bus_arn" {
  description = "Our event bus's ARN"
  value       = aws_cloudwatch_event_bus.bus.arn
}

output "archive_arn" {
  description = "The bus archive (replay)"
  value       = aws_cloudwatch_event_archive.bus.arn
}

output "queue_arns" {
  description = "Each consumer's queue ARN, by service"
  value       = { for k, q in aws_sqs_queue.queue : k => q.arn }
}

output "queue_urls" {
  description = "Each consumer's queue URL, by service"
  value       = { for k, q in aws_sqs_queue.queue : k => q.id }
}

output "dlq_arns" {
  description = "Each consumer's DLQ ARN, by service"
  value       = { for k, q in aws_sqs_queue.dlq : k => q.arn }
}

output "dlq_urls" {
  description = "Each consumer's DLQ URL, by service"
  value       = { for k, q in aws_sqs_queue.dlq : k => q.id }
}

output "dlq_names" {
  description = "Each consumer's DLQ name, by service"
  value       = { for k, q in aws_sqs_queue.dlq : k => q.name }
}

output "relay_function_name" {
  description = "The outbox relay's function"
  value       = aws_lambda_function.relay.function_name
}

output "relay_function_arn" {
  description = "The outbox relay's function ARN"
  value       = aws_lambda_function.relay.arn
}

output "relay_timeout_s" {
  description = "The relay's timeout (its duration alarm)"
  value       = aws_lambda_function.relay.timeout
}

output "relay_failure_topic_name" {
  description = "Where stream batches the relay gave up on are recorded (alarmed)"
  value       = aws_sns_topic.relay_failures.name
}
