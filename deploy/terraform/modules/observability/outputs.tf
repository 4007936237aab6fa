output "alarm_topic_arn" {
  description = "The SNS topic alarms notify; also Roster's own `[[notifiers.sns]] topic_arn`."
  value       = aws_sns_topic.alarms.arn
}

output "kms_key_arn" {
  description = "The key of the topic and the log groups (a publisher needs kms:GenerateDataKey on it)."
  value       = aws_kms_key.this.arn
}

output "log_group_names" {
  description = "The log groups made, by key."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "log_group_arns" {
  description = "ARNs of the log groups, by key."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.arn }
}

output "alarm_names" {
  description = "Every alarm made."
  value = concat(
    [aws_cloudwatch_metric_alarm.dlq_depth.alarm_name, aws_cloudwatch_metric_alarm.oldest_message_age.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.lambda_errors : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.lambda_throttles : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.emf : a.alarm_name],
  )
}

output "dashboard_name" {
  description = "The CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "publish_policy_json" {
  description = "IAM policy that lets Roster's SNS notifier publish to the topic."
  value = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "PublishAlarms", Effect = "Allow", Action = "sns:Publish", Resource = aws_sns_topic.alarms.arn },
      { Sid = "EncryptedTopic", Effect = "Allow", Action = ["kms:GenerateDataKey", "kms:Decrypt"], Resource = aws_kms_key.this.arn },
    ]
  })
}
