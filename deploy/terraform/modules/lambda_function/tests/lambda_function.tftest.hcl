# A mock AWS (tests/mocks, shared by the modules): nothing is created.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                 = "roster-test-consumer"
  description          = "test"
  package              = { s3_bucket = "artifacts", s3_key = "roster-lambda-consumer.zip" }
  reserved_concurrency = 5
  subnet_ids           = ["subnet-a", "subnet-b"]
  security_group_ids   = ["sg-lambda"]
  kms_key_arn          = "arn:aws:kms:eu-west-1:111122223333:key/test"
  environment          = { ROSTER_QUEUE = "sqs" }
  policy_jsons         = { queue = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
}

run "function_runs_in_the_vpc_with_its_own_narrow_role" {
  assert {
    condition     = length(output.iam_statements) > 0 && alltrue([for s in output.iam_statements : !(contains(s.actions, "*") && contains(s.resources, "*"))])
    error_message = "No IAM statement allows every action on every resource."
  }
  assert {
    condition     = length(output.log_groups) > 0 && alltrue([for name, days in output.log_groups : days != null && days > 0])
    error_message = "Every log group this module makes has a retention."
  }
  assert {
    condition     = aws_lambda_function.this.runtime == "provided.al2023" && aws_lambda_function.this.handler == "bootstrap"
    error_message = "Roster's functions are custom-runtime bootstrap binaries."
  }
  assert {
    condition     = aws_lambda_function.this.vpc_config[0].subnet_ids == toset(var.subnet_ids)
    error_message = "The function must run in the private subnets."
  }
  assert {
    condition     = aws_lambda_function.this.kms_key_arn == var.kms_key_arn && aws_lambda_function.this.reserved_concurrent_executions == 5
    error_message = "Environment encrypted with the key; concurrency reserved."
  }
  assert {
    condition     = aws_cloudwatch_log_group.this.retention_in_days == 365 && aws_cloudwatch_log_group.this.name == "/aws/lambda/roster-test-consumer"
    error_message = "The function's log group must exist with a retention."
  }
  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.base.statement :
      !(contains(s.actions, "*") || anytrue([for a in s.actions : endswith(a, ":*")]))]) && alltrue([for s in data.aws_iam_policy_document.base.statement :
    !contains(s.resources, "*") || alltrue([for a in s.actions : startswith(a, "ec2:Describe") || startswith(a, "xray:")])])
    error_message = "No wildcard actions; '*' resources only for calls that have no resource-level permissions."
  }
  assert {
    condition     = data.aws_iam_policy_document.base.statement[0].resources == toset(["${aws_cloudwatch_log_group.this.arn}:*"])
    error_message = "The function may write only its own logs."
  }
  assert {
    condition     = aws_iam_role_policy.extra["queue"].role == aws_iam_role.this.id
    error_message = "The given policies go to the function's own role."
  }
}

run "rejects_a_package_that_is_neither_file_nor_object" {
  command = plan
  variables {
    package = { s3_bucket = "artifacts" }
  }
  expect_failures = [var.package]
}

run "reads_the_database_password_from_its_secret_and_nothing_else" {
  variables {
    environment = {
      ROSTER_STORE        = "postgres"
      ROSTER_DATABASE_URL = "postgres://roster@db.internal:5432/roster?sslmode=verify-full"
    }
    database_password_secret = {
      arn         = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-1234-AbCdEf"
      kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/db"
    }
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables["ROSTER_DATABASE_PASSWORD_SECRET_ARN"] == var.database_password_secret.arn
    error_message = "The function is told the secret's ARN, which it reads at cold start."
  }
  assert {
    condition = !anytrue([for k, v in aws_lambda_function.this.environment[0].variables :
    contains(["ROSTER_DATABASE_PASSWORD", "ROSTER_DATABASE_PASSWORD_FILE"], k) || can(regex("://[^/@:]*:[^/@]*@", v))])
    error_message = "No password in the function's environment, neither as a variable nor inside a URL."
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.database_secret[0].policy).Statement == [
      { Sid = "ReadDatabasePassword", Effect = "Allow", Action = "secretsmanager:GetSecretValue", Resource = var.database_password_secret.arn },
      { Sid = "DecryptDatabasePassword", Effect = "Allow", Action = "kms:Decrypt", Resource = var.database_password_secret.kms_key_arn,
      Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.eu-west-1.amazonaws.com" } } },
    ]
    error_message = "The role may read that one secret, and decrypt its key only through Secrets Manager."
  }
  assert {
    condition     = aws_iam_role_policy.database_secret[0].role == aws_iam_role.this.id
    error_message = "The secret's policy belongs to the function's own role."
  }
  assert {
    condition = (aws_lambda_function.this.environment[0].variables["ROSTER_METRICS_FORMAT"] == "emf"
    && aws_lambda_function.this.environment[0].variables["ROSTER_DATABASE_POOL_SIZE"] == "2")
    error_message = "A function publishes EMF metrics and holds a small pool."
  }
}

run "a_secret_under_aws_managed_encryption_needs_no_key_permission" {
  variables {
    database_password_secret = { arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:roster-db-AbCdEf" }
  }
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.database_secret[0].policy).Statement : s.Action] == ["secretsmanager:GetSecretValue"]
    error_message = "Without a customer-managed key the role gets no kms:Decrypt."
  }
}

run "no_database_secret_no_secret_permission" {
  assert {
    condition     = length(aws_iam_role_policy.database_secret) == 0 && !contains(keys(aws_lambda_function.this.environment[0].variables), "ROSTER_DATABASE_PASSWORD_SECRET_ARN")
    error_message = "A function without a database secret may read no secret."
  }
}

run "refuses_a_password_in_the_environment" {
  command = plan
  variables {
    environment = { ROSTER_DATABASE_PASSWORD = "hunter2" }
  }
  expect_failures = [var.environment]
}

run "refuses_a_password_inside_the_database_url" {
  command = plan
  variables {
    environment = { ROSTER_DATABASE_URL = "postgres://roster:hunter2@db.internal/roster" }
  }
  expect_failures = [var.environment]
}

run "a_local_package_is_deployed_by_its_hash" {
  variables {
    package      = { filename = "../../tests/fixtures/lambda/roster-lambda-consumer/bootstrap.zip" }
    architecture = "x86_64"
  }
  assert {
    condition = (aws_lambda_function.this.filename == var.package.filename
      && aws_lambda_function.this.source_code_hash == filebase64sha256(var.package.filename)
    && aws_lambda_function.this.s3_bucket == null)
    error_message = "A rebuilt zip changes source_code_hash, so apply deploys it."
  }
  assert {
    condition     = aws_lambda_function.this.architectures == tolist(["x86_64"])
    error_message = "The architecture is the one the package was built for."
  }
}

run "an_s3_package_takes_its_hash_and_version" {
  variables {
    package = {
      s3_bucket         = "artifacts"
      s3_key            = "roster/1.4.0/roster-lambda-consumer.zip"
      s3_object_version = "3sL4kqtJlcpXroDTDmJ"
      source_code_hash  = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    }
  }
  assert {
    condition = (aws_lambda_function.this.s3_key == var.package.s3_key
      && aws_lambda_function.this.s3_object_version == var.package.s3_object_version
    && aws_lambda_function.this.source_code_hash == var.package.source_code_hash)
    error_message = "An S3 package is deployed from its key, version and hash."
  }
  assert {
    condition     = aws_lambda_function.this.architectures == tolist(["arm64"])
    error_message = "arm64 is the default."
  }
}
