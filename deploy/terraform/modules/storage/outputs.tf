output "bucket_name" {
  description = "The media bucket"
  value       = aws_s3_bucket.media.bucket
}

output "bucket_arn" {
  description = "The media bucket's ARN"
  value       = aws_s3_bucket.media.arn
}

output "events_table_name" {
  description = "The event log table"
  value       = aws_dynamodb_table.events.name
}

output "events_table_arn" {
  description = "The event log table's ARN"
  value       = aws_dynamodb_table.events.arn
}

output "events_stream_arn" {
  description = "The event log's stream (the relay's source)"
  value       = aws_dynamodb_table.events.stream_arn
}

output "views_table_name" {
  description = "The read models table"
  value       = aws_dynamodb_table.views.name
}

output "views_table_arn" {
  description = "The read models table's ARN"
  value       = aws_dynamodb_table.views.arn
}

output "kms_key_arn" {
  description = "The stack's customer-managed key (media, tables, parameters, logs, alarms)"
  value       = aws_kms_key.data.arn
}
