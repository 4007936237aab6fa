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
