output "instance_arn" {
  description = "ARN of the RDS instance."
  value       = aws_db_instance.this.arn
}

output "address" {
  description = "Host name of the instance."
  value       = aws_db_instance.this.address
}

output "endpoint" {
  description = "Host name Roster connects to: the proxy's when there is one, else the instance's."
  value       = var.enable_proxy ? aws_db_proxy.this[0].endpoint : aws_db_instance.this.address
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.this.port
}

output "database_name" {
  description = "The database."
  value       = var.database_name
}

output "master_secret_arn" {
  description = "Secrets Manager secret of the master user (JSON with username and password), kept and rotated by RDS."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "kms_key_arn" {
  description = "The key of storage and of the secret (a reader of the secret needs kms:Decrypt on it)."
  value       = local.kms_key
}

output "database_url" {
  description = "ROSTER_DATABASE_URL without the password (the functions read it from the master secret, the console has it injected): TLS verified (sslmode=verify-full, and sslrootcert when ssl_root_cert is given)."
  value       = "postgres://${var.master_username}@${var.enable_proxy ? aws_db_proxy.this[0].endpoint : aws_db_instance.this.address}:${aws_db_instance.this.port}/${var.database_name}?sslmode=verify-full${var.ssl_root_cert == null ? "" : "&sslrootcert=${var.ssl_root_cert}"}"
}

output "password_secret" {
  description = "The master secret and its key, as the functions' database_password_secret takes them (consumer, ingest_api): they read the password from it at cold start."
  value = {
    arn         = aws_db_instance.this.master_user_secret[0].secret_arn
    kms_key_arn = local.kms_key
  }
}

output "log_group_names" {
  description = "The log groups made, by key: each exported log (postgresql, upgrade), the proxy's (proxy) and RDSOSMetrics (os_metrics) when made."
  value = merge(
    { for k, g in aws_cloudwatch_log_group.exports : k => g.name },
    { for g in aws_cloudwatch_log_group.proxy : "proxy" => g.name },
    { for g in aws_cloudwatch_log_group.os_metrics : "os_metrics" => g.name },
  )
}
