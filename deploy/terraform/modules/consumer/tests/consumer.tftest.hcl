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
  name                             = "roster-test"
  consumer_package                 = { s3_bucket = "artifacts", s3_key = "roster-lambda-consumer.zip" }
  scheduler_package                = { s3_bucket = "artifacts", s3_key = "roster-lambda-scheduler.zip" }
  queue_arn                        = "arn:aws:sqs:eu-west-1:111122223333:roster-test.fifo"
  queue_visibility_timeout_seconds = 360
  queue_policy_json                = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  roster_environment               = { ROSTER_QUEUE = "sqs" }
  subnet_ids                       = ["subnet-a", "subnet-b"]
  security_group_id                = "sg-lambda"
  kms_key_arn                      = "arn:aws:kms:eu-west-1:111122223333:key/test"
}

run "event_source_reports_partial_failures_and_bounds_concurrency" {
  assert {
    condition     = aws_lambda_event_source_mapping.queue.function_response_types == toset(["ReportBatchItemFailures"])
    error_message = "The consumer must report batch item failures."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.queue.scaling_config[0].maximum_concurrency == 5 && aws_lambda_event_source_mapping.queue.batch_size == 10
    error_message = "MaximumConcurrency protects PostgreSQL; a FIFO batch is at most 10."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.queue.event_source_arn == var.queue_arn
    error_message = "The event source is the queue."
  }
  assert {
    condition     = aws_scheduler_schedule.scheduler.schedule_expression == "rate(1 minute)" && aws_scheduler_schedule.scheduler.target[0].retry_policy[0].maximum_retry_attempts == 0
    error_message = "The scheduler runs every minute; a missed run is superseded by the next."
  }
  assert {
    condition     = data.aws_iam_policy_document.schedule.statement[0].actions == toset(["lambda:InvokeFunction"]) && length(data.aws_iam_policy_document.schedule.statement[0].resources) == 1 && !contains(data.aws_iam_policy_document.schedule.statement[0].resources, "*")
    error_message = "The schedule may invoke the scheduler function only."
  }
}

run "refuses_a_queue_whose_visibility_timeout_is_under_six_times_the_function_timeout" {
  command = plan
  variables {
    queue_visibility_timeout_seconds = 120
    consumer_timeout_seconds         = 60
  }
  expect_failures = [aws_lambda_event_source_mapping.queue]
}

run "rejects_a_fifo_batch_over_ten" {
  command = plan
  variables {
    batch_size = 11
  }
  expect_failures = [var.batch_size]
}

run "rejects_reserved_concurrency_below_maximum_concurrency" {
  command = plan
  variables {
    maximum_concurrency  = 10
    reserved_concurrency = 5
  }
  expect_failures = [var.reserved_concurrency]
}
