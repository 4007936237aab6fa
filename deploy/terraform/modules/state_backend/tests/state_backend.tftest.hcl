# A mock AWS (tests/mocks, shared by the modules): nothing is created.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  bucket_name = "acme-roster-tfstate"
}

run "bucket_is_private_versioned_encrypted_and_tls_only" {
  assert {
    condition     = length(output.iam_statements) > 0 && alltrue([for s in output.iam_statements : !(contains(s.actions, "*") && contains(s.resources, "*"))])
    error_message = "No IAM statement allows every action on every resource."
  }
  assert {
    condition     = aws_s3_bucket_versioning.state.versioning_configuration[0].status == "Enabled"
    error_message = "The state bucket must be versioned."
  }
  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.state.block_public_acls,
      aws_s3_bucket_public_access_block.state.block_public_policy,
      aws_s3_bucket_public_access_block.state.ignore_public_acls,
      aws_s3_bucket_public_access_block.state.restrict_public_buckets,
    ])
    error_message = "The state bucket must block every kind of public access."
  }
  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.state.rule : one(r.apply_server_side_encryption_by_default).sse_algorithm]) == "aws:kms"
    error_message = "State must be encrypted with SSE-KMS."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.tls_only.statement :
      s.effect == "Deny" && contains(s.actions, "s3:*") && anytrue([for c in s.condition : c.variable == "aws:SecureTransport" && contains(c.values, "false") && length(c.values) == 1])
    ])
    error_message = "The bucket policy must deny requests without TLS."
  }
  assert {
    condition     = aws_s3_bucket_policy.state.bucket == aws_s3_bucket.state.id
    error_message = "The TLS-only policy must be attached to the state bucket."
  }
  assert {
    condition     = one(aws_s3_bucket_lifecycle_configuration.state.rule[0].noncurrent_version_expiration).noncurrent_days == 90
    error_message = "Old state versions must expire after noncurrent_version_retention_days."
  }
  assert {
    condition     = aws_kms_key.state.enable_key_rotation
    error_message = "The state key must rotate."
  }
  assert {
    condition     = !aws_s3_bucket.state.force_destroy
    error_message = "A bucket holding state must not be destroyable by default."
  }
}

run "lock_table_matches_the_s3_backend" {
  assert {
    condition     = aws_dynamodb_table.lock[0].hash_key == "LockID" && aws_dynamodb_table.lock[0].name == "terraform-locks"
    error_message = "The S3 backend's dynamodb_table needs a string hash key LockID."
  }
  assert {
    condition     = aws_dynamodb_table.lock[0].point_in_time_recovery[0].enabled && aws_dynamodb_table.lock[0].server_side_encryption[0].enabled
    error_message = "The lock table must be encrypted with the state key and recoverable."
  }
  assert {
    condition     = output.backend_config.use_lockfile && output.backend_config.dynamodb_table == "terraform-locks"
    error_message = "backend_config must carry both locking mechanisms."
  }
}

run "native_locking_only" {
  variables {
    lock_table_name = null
  }
  assert {
    condition     = length(aws_dynamodb_table.lock) == 0 && !contains(keys(output.backend_config), "dynamodb_table")
    error_message = "Without a table name, no table and no dynamodb_table in backend_config."
  }
}

run "rejects_bad_bucket_name" {
  command = plan
  variables {
    bucket_name = "Acme_State"
  }
  expect_failures = [var.bucket_name]
}

run "rejects_short_key_deletion_window" {
  command = plan
  variables {
    kms_deletion_window_days = 3
  }
  expect_failures = [var.kms_deletion_window_days]
}
