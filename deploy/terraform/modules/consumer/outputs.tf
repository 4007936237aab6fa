output "consumer_function_name" {
  description = "Name of the consumer function."
  value       = module.consumer.function_name
}

output "consumer_role_arn" {
  description = "Role of the consumer function."
  value       = module.consumer.role_arn
}

output "scheduler_function_name" {
  description = "Name of the scheduler function."
  value       = module.scheduler.function_name
}

output "scheduler_role_arn" {
  description = "Role of the scheduler function."
  value       = module.scheduler.role_arn
}

output "event_source_mapping_uuid" {
  description = "The SQS event source mapping."
  value       = aws_lambda_event_source_mapping.queue.uuid
}

output "function_names" {
  description = "Both functions by key, for the observability module's lambda_function_names."
  value       = { consumer = module.consumer.function_name, scheduler = module.scheduler.function_name }
}

output "function_settings" {
  description = "Each function's environment (no secrets), database-secret policy and role, by key (consumer, scheduler): what it runs with, for reviews and tests."
  value       = { consumer = module.consumer.settings, scheduler = module.scheduler.settings }
}

output "event_source_arn" {
  description = "The queue the consumer's event source mapping reads."
  value       = aws_lambda_event_source_mapping.queue.event_source_arn
}

output "iam_statements" {
  description = "Every statement of the IAM and key policies this module writes, as { policy, effect, actions, resources }: for reviews and tests (none may allow every action on every resource)."
  value = concat(module.consumer.iam_statements, module.scheduler.iam_statements, flatten([for name, d in { schedule = data.aws_iam_policy_document.schedule, schedule_assume = data.aws_iam_policy_document.schedule_assume } : [for s in d.statement : {
    policy    = name
    effect    = coalesce(s.effect, "Allow")
    actions   = tolist(coalesce(s.actions, []))
    resources = tolist(coalesce(s.resources, []))
  }]]))
}

output "log_groups" {
  description = "Every log group this module makes, name => retention in days: for reviews and tests (each has one)."
  value       = merge(module.consumer.log_groups, module.scheduler.log_groups)
}

output "event_source" {
  description = "The consumer's SQS event source mapping, for reviews and tests: queue, batch size, response types (ReportBatchItemFailures) and MaximumConcurrency."
  value = {
    event_source_arn        = aws_lambda_event_source_mapping.queue.event_source_arn
    batch_size              = aws_lambda_event_source_mapping.queue.batch_size
    function_response_types = aws_lambda_event_source_mapping.queue.function_response_types
    maximum_concurrency     = one(aws_lambda_event_source_mapping.queue.scaling_config[*].maximum_concurrency)
  }
}
