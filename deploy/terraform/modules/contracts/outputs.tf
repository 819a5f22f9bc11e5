output "registry_name" {
  description = "The EventBridge schema registry holding one schema per event version."
  value       = aws_schemas_registry.events.name
}

output "registry_arn" {
  description = "ARN of the schema registry."
  value       = aws_schemas_registry.events.arn
}

output "schema_names" {
  description = "The registered schemas (event type with its version), sorted."
  value       = sort(keys(aws_schemas_schema.event))
}
