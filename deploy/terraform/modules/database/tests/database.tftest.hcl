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

override_resource {
  target = aws_db_proxy_default_target_group.this
  values = {
    name = "default"
  }
}

# RDS fills master_user_secret in; a mock must say what it holds.
override_resource {
  target = aws_db_instance.this
  values = {
    arn     = "arn:aws:rds:eu-west-1:111122223333:db:roster-test"
    port    = 5432
    address = "roster-test.abc.eu-west-1.rds.amazonaws.com"
    master_user_secret = [{
      secret_arn    = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-test"
      kms_key_id    = "arn:aws:kms:eu-west-1:111122223333:key/test"
      secret_status = "active"
    }]
  }
}

variables {
  name              = "roster-test"
  subnet_ids        = ["subnet-a", "subnet-b"]
  security_group_id = "sg-db"
}

run "encrypted_private_tls_only_and_protected" {
  assert {
    condition     = aws_db_instance.this.storage_encrypted && aws_db_instance.this.kms_key_id == aws_kms_key.db[0].arn
    error_message = "Storage must be encrypted with the module's key."
  }
  assert {
    condition     = !aws_db_instance.this.publicly_accessible
    error_message = "The database must not be publicly accessible."
  }
  assert {
    condition     = [for p in aws_db_parameter_group.this.parameter : p.value if p.name == "rds.force_ssl"] == ["1"]
    error_message = "The parameter group must set rds.force_ssl = 1."
  }
  assert {
    condition     = aws_db_parameter_group.this.family == "postgres16" && aws_db_instance.this.parameter_group_name == aws_db_parameter_group.this.name
    error_message = "The instance must use the TLS-only parameter group of its major version."
  }
  assert {
    condition     = aws_db_instance.this.deletion_protection && aws_db_instance.this.backup_retention_period >= 7 && aws_db_instance.this.multi_az
    error_message = "Deletion protection, backups and Multi-AZ must be on by default."
  }
  assert {
    condition     = aws_db_instance.this.manage_master_user_password && aws_db_instance.this.password == null
    error_message = "The master password must be kept by RDS in Secrets Manager, never in Terraform."
  }
  assert {
    condition     = endswith(output.database_url, "?sslmode=verify-full") && !strcontains(output.database_url, ":5432@")
    error_message = "The database URL must verify TLS and hold no password."
  }
  assert {
    condition     = jsondecode(output.read_secret_policy_json).Statement[0].Resource == "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-test"
    error_message = "Reading the secret must name the secret."
  }
  assert {
    condition     = length(aws_db_proxy.this) == 0
    error_message = "No proxy unless asked."
  }
}

run "proxy_requires_tls_and_reads_only_its_secret" {
  variables {
    enable_proxy = true
  }
  assert {
    condition     = aws_db_proxy.this[0].require_tls
    error_message = "The proxy must require TLS."
  }
  assert {
    condition     = data.aws_iam_policy_document.proxy.statement[0].resources == toset(["arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-test"])
    error_message = "The proxy's role must read only the master secret."
  }
}

run "rejects_old_postgresql" {
  command = plan
  variables {
    engine_version = "13.4"
  }
  expect_failures = [var.engine_version]
}

run "rejects_one_subnet" {
  command = plan
  variables {
    subnet_ids = ["subnet-a"]
  }
  expect_failures = [var.subnet_ids]
}
