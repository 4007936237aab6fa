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
  value       = local.publish_policy_json
}

output "iam_statements" {
  description = "Every statement of the IAM and key policies this module writes, as { policy, effect, actions, resources }: for reviews and tests (none may allow every action on every resource)."
  value = concat(
    flatten([for name, d in { key = data.aws_iam_policy_document.key, topic = data.aws_iam_policy_document.topic } : [for s in d.statement : {
      policy    = name
      effect    = coalesce(s.effect, "Allow")
      actions   = tolist(coalesce(s.actions, []))
      resources = tolist(coalesce(s.resources, []))
    }]]),
    [for s in jsondecode(local.publish_policy_json).Statement : {
      policy    = "publish"
      effect    = s.Effect
      actions   = flatten([s.Action])
      resources = flatten([s.Resource])
    }],
  )
}

output "log_groups" {
  description = "Every log group this module makes, name => retention in days: for reviews and tests (each has one)."
  value       = { for g in aws_cloudwatch_log_group.this : g.name => g.retention_in_days }
}
