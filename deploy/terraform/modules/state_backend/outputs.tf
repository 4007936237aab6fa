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
