output "queue_url" {
  description = "Roster's sqs_queue_url."
  value       = module.queue.queue_url
}

output "dlq_url" {
  description = "Roster's sqs_dlq_url."
  value       = module.queue.dlq_url
}

output "database_url" {
  description = "ROSTER_DATABASE_URL (no password)."
  value       = module.database.database_url
}

output "function_names" {
  description = "The consumer and scheduler functions, by key."
  value       = module.consumer.function_names
}
