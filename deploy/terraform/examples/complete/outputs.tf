output "api_url" {
  description = "Where HR systems send feeds."
  value       = module.ingest_api.url
}

output "console_url" {
  description = "The admin console."
  value       = module.admin_service.url
}

output "queue_url" {
  description = "Roster's sqs_queue_url."
  value       = module.queue.queue_url
}

output "dlq_url" {
  description = "Roster's sqs_dlq_url."
  value       = module.queue.dlq_url
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.observability.alarm_topic_arn
}

output "database_url" {
  description = "ROSTER_DATABASE_URL (no password) for `roster migrate` from a host in the VPC."
  value       = module.database.database_url
}

output "migrate_command" {
  description = "Runs `roster migrate` once as an ECS task of the console's task definition: the deploy step before new code (README, \"Rolling out a new Roster version\")."
  value       = module.admin_service.migrate_command
}

output "function_names" {
  description = "The three functions, by key (ingest, consumer, scheduler)."
  value       = merge(module.consumer.function_names, { ingest = module.ingest_api.function_name })
}
