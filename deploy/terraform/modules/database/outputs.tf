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

output "iam_statements" {
  description = "Every statement of the IAM and key policies this module writes, as { policy, effect, actions, resources }: for reviews and tests (none may allow every action on every resource)."
  value = flatten([for name, d in { key = data.aws_iam_policy_document.key, proxy = data.aws_iam_policy_document.proxy, monitoring_assume = data.aws_iam_policy_document.monitoring_assume, proxy_assume = data.aws_iam_policy_document.proxy_assume } : [for s in d.statement : {
    policy    = name
    effect    = coalesce(s.effect, "Allow")
    actions   = tolist(coalesce(s.actions, []))
    resources = tolist(coalesce(s.resources, []))
  }]])
}

output "log_groups" {
  description = "Every log group this module makes, name => retention in days: for reviews and tests (each has one)."
  value       = { for g in concat(values(aws_cloudwatch_log_group.exports), aws_cloudwatch_log_group.proxy, aws_cloudwatch_log_group.os_metrics) : g.name => g.retention_in_days }
}

output "settings" {
  description = "What the instance runs with, for reviews and tests: public access, encryption and its key, Multi-AZ, deletion protection, backups, the parameter group's parameters, and whether the proxy (if any) requires TLS."
  value = {
    publicly_accessible     = aws_db_instance.this.publicly_accessible
    storage_encrypted       = aws_db_instance.this.storage_encrypted
    kms_key_id              = aws_db_instance.this.kms_key_id
    multi_az                = aws_db_instance.this.multi_az
    deletion_protection     = aws_db_instance.this.deletion_protection
    backup_retention_period = aws_db_instance.this.backup_retention_period
    parameters              = { for p in aws_db_parameter_group.this.parameter : p.name => p.value }
    proxy_require_tls       = one(aws_db_proxy.this[*].require_tls)
  }
}
