output "bucket_name" {
  description = "The state bucket: the backend's `bucket`."
  value       = aws_s3_bucket.state.id
}

output "bucket_arn" {
  description = "ARN of the state bucket (for the IAM policies of whoever runs Terraform)."
  value       = aws_s3_bucket.state.arn
}

output "kms_key_arn" {
  description = "The key that encrypts state: the backend's `kms_key_id`."
  value       = aws_kms_key.state.arn
}

output "lock_table_name" {
  description = "The DynamoDB lock table: the backend's `dynamodb_table` (null when none was made)."
  value       = one(aws_dynamodb_table.lock[*].name)
}

output "lock_table_arn" {
  description = "ARN of the lock table (null when none was made)."
  value       = one(aws_dynamodb_table.lock[*].arn)
}

output "backend_config" {
  description = "The settings of a `backend \"s3\"` block (or a -backend-config file) that uses this bucket; add `key` and `region`."
  value = merge(
    {
      bucket       = aws_s3_bucket.state.id
      encrypt      = true
      kms_key_id   = aws_kms_key.state.arn
      use_lockfile = true
    },
    var.lock_table_name == null ? {} : { dynamodb_table = var.lock_table_name },
  )
}

output "iam_statements" {
  description = "Every statement of the IAM and key policies this module writes, as { policy, effect, actions, resources }: for reviews and tests (none may allow every action on every resource)."
  value = flatten([for name, d in { key = data.aws_iam_policy_document.key, tls_only = data.aws_iam_policy_document.tls_only } : [for s in d.statement : {
    policy    = name
    effect    = coalesce(s.effect, "Allow")
    actions   = tolist(coalesce(s.actions, []))
    resources = tolist(coalesce(s.resources, []))
  }]])
}
