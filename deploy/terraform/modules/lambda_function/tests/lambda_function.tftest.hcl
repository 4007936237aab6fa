# A mock AWS: nothing is created. Values the provider would compute are
# given where its own validation wants an ARN; policy documents are real
# JSON to the resources that take them, and the assertions read their
# statements.
mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "111122223333"
    }
  }
  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000"
    }
  }
  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:eu-west-1:111122223333:roster-test-alarms"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::111122223333:role/roster-test"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:111122223333:log-group:roster-test"
    }
  }
  mock_resource "aws_lambda_function" {
    defaults = {
      arn        = "arn:aws:lambda:eu-west-1:111122223333:function:roster-test"
      invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:111122223333:function:roster-test/invocations"
    }
  }
  mock_resource "aws_apigatewayv2_api" {
    defaults = {
      execution_arn = "arn:aws:execute-api:eu-west-1:111122223333:abc123"
    }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/roster-test/0123456789abcdef"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/roster-test/0123456789abcdef"
    }
  }
  mock_resource "aws_cognito_user_pool" {
    defaults = {
      arn = "arn:aws:cognito-idp:eu-west-1:111122223333:userpool/eu-west-1_test"
    }
  }
  mock_resource "aws_acm_certificate" {
    defaults = {
      arn = "arn:aws:acm:eu-west-1:111122223333:certificate/test"
    }
  }
  mock_resource "aws_acm_certificate_validation" {
    defaults = {
      certificate_arn = "arn:aws:acm:eu-west-1:111122223333:certificate/test"
    }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = {
      arn = "arn:aws:ecs:eu-west-1:111122223333:task-definition/roster-test:1"
    }
  }
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
