output "alarm_topic_arn" {
  description = "The topic every alarm notifies: subscribe your on-call endpoints"
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Every alarm"
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.dlq_depth : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.saga_failed : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.saga_timed_out : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.function_errors : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.function_duration : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.relay_gave_up : a.alarm_name],
  )
}
