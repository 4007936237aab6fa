output "api_id" {
  description = "The HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "url" {
  description = "Where clients send feeds: the custom domain when there is one, else the execute-api endpoint."
  value       = var.custom_domain == null ? aws_apigatewayv2_stage.default.invoke_url : "https://${var.custom_domain.domain_name}/"
}

output "function_name" {
  description = "The ingest function."
  value       = module.function.function_name
}

output "role_arn" {
  description = "The ingest function's role."
  value       = module.function.role_arn
}

output "access_log_group_name" {
  description = "Log group of the API's JSON access logs."
  value       = aws_cloudwatch_log_group.access.name
}

output "function_settings" {
  description = "The ingest function's environment (no secrets), database-secret policy and role, by key (ingest): what it runs with, for reviews and tests."
  value       = { ingest = module.function.settings }
}

output "iam_statements" {
  description = "Every statement of the IAM and key policies this module writes, as { policy, effect, actions, resources }: for reviews and tests (none may allow every action on every resource)."
  value       = module.function.iam_statements
}

output "log_groups" {
  description = "Every log group this module makes, name => retention in days: for reviews and tests (each has one)."
  value       = merge(module.function.log_groups, { (aws_cloudwatch_log_group.access.name) = aws_cloudwatch_log_group.access.retention_in_days })
}
