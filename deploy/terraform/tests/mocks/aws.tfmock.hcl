# The mock AWS the modules' terraform tests share (mock_provider "aws" { source = ... }):
# nothing is created; computed values are given where the provider's own
# validation wants an ARN, and policy documents are real JSON.
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
    domain_validation_options = [{
      domain_name           = "roster.example.com"
      resource_record_name  = "_x.roster.example.com."
      resource_record_type  = "CNAME"
      resource_record_value = "_y.acm-validations.aws."
    }]
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
