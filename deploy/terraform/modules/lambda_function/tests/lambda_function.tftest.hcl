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
