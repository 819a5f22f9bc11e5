# What operators and other teams read after an apply (`terraform output`).

output "bus_name" {
  description = "Our event bus: another team subscribes with a rule on it (docs/consuming-events.md)"
  value       = module.messaging.bus_name
}

output "bus_arn" {
  description = "Our event bus's ARN"
  value       = module.messaging.bus_arn
}

output "event_source_prefix" {
  description = "Every event we publish has a source starting with this (match it with {\"prefix\": ...})"
  value       = "shoebox/"
}

output "event_sources" {
  description = "The sources our services publish with: shoebox/<service> (shared/runtime/processor.py)"
  value       = [for c in local.topology.consumers : "shoebox/${c.service}"]
}

output "archive_arn" {
  description = "The bus archive (replay with `aws events start-replay`)"
  value       = module.messaging.archive_arn
}

output "api_url" {
  description = "The HTTP API"
  value       = module.api.api_url
}

output "page_url" {
  description = "The upload page (served by the API at /; sign in through the Cognito hosted UI)"
  value       = "${local.api_origin}/"
}

output "schema_registry_name" {
  description = "The EventBridge schema registry holding one Draft 4 schema per event version"
  value       = module.contracts.registry_name
}

output "schema_registry_arn" {
  description = "The schema registry's ARN"
  value       = module.contracts.registry_arn
}

output "queue_urls" {
  description = "Each consumer's queue URL, by service"
  value       = module.messaging.queue_urls
}

output "dlq_urls" {
  description = "Each consumer's DLQ URL, by service (inspect, redrive with `aws sqs start-message-move-task`)"
  value       = module.messaging.dlq_urls
}

output "state_machine_arns" {
  description = "Each saga's state machine ARN, by name"
  value       = module.sagas.state_machine_arns
}

output "user_pool_id" {
  description = "The Cognito user pool (create users with `aws cognito-idp admin-create-user`)"
  value       = module.api.user_pool_id
}

output "user_pool_client_id" {
  description = "The page's Cognito app client (the tokens' audience)"
  value       = module.api.user_pool_client_id
}

output "hosted_ui_url" {
  description = "The Cognito hosted UI the page signs in through"
  value       = module.api.hosted_ui_url
}

output "gemini_key_parameter_name" {
  description = "Put the Gemini key here: aws ssm put-parameter --name <this> --type SecureString --overwrite --value <key>"
  value       = module.secrets.gemini_key_parameter_name
}

output "alarm_topic_arn" {
  description = "Every alarm notifies this topic: subscribe your on-call endpoints"
  value       = module.observability.alarm_topic_arn
}

output "media_bucket" {
  description = "The media bucket"
  value       = module.storage.bucket_name
}
