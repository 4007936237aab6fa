# A mock AWS (tests/mocks, shared by the modules): nothing is created.
mock_provider "aws" {
  source = "../../tests/mocks"
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
    condition     = length(output.iam_statements) > 0 && alltrue([for s in output.iam_statements : !(contains(s.actions, "*") && contains(s.resources, "*"))])
    error_message = "No IAM statement allows every action on every resource."
  }
  assert {
    condition     = length(output.log_groups) > 0 && alltrue([for name, days in output.log_groups : days != null && days > 0])
    error_message = "Every log group this module makes has a retention."
  }
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
  assert {
    condition = ([for s in data.aws_iam_policy_document.schedule.statement : [s.sid, s.actions, s.resources]]
    == [["InvokeScheduler", toset(["lambda:InvokeFunction"]), toset([module.scheduler.function_arn])], ["DecryptSchedule", toset(["kms:Decrypt"]), toset([var.kms_key_arn])]])
    error_message = "The schedule's role invokes the scheduler and decrypts the schedule with its key, nothing else."
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.schedule_assume.statement : anytrue([for c in s.condition : c.test == "StringEquals" && c.variable == "aws:SourceAccount" && length(c.values) == 1 && contains(c.values, data.aws_caller_identity.current.account_id)])])
    error_message = "Only this account's schedules may assume the schedule's role."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.queue.maximum_batching_window_in_seconds == null || aws_lambda_event_source_mapping.queue.maximum_batching_window_in_seconds == 0
    error_message = "No batching window: a FIFO event source takes none."
  }
  assert {
    condition     = aws_scheduler_schedule.scheduler.target[0].arn == module.scheduler.function_arn && aws_scheduler_schedule.scheduler.target[0].role_arn == aws_iam_role.schedule.arn
    error_message = "The schedule invokes the scheduler function with its own role."
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

run "both_functions_read_the_database_password_from_its_secret_only" {
  variables {
    consumer_package  = { filename = "../../tests/fixtures/lambda/roster-lambda-consumer/bootstrap.zip" }
    scheduler_package = { filename = "../../tests/fixtures/lambda/roster-lambda-scheduler/bootstrap.zip" }
    roster_environment = {
      ROSTER_QUEUE        = "sqs"
      ROSTER_STORE        = "postgres"
      ROSTER_DATABASE_URL = "postgres://roster@db.internal:5432/roster?sslmode=verify-full"
    }
    database_password_secret = {
      arn         = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-1234-AbCdEf"
      kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/db"
    }
  }
  assert {
    condition = alltrue([for f in values(output.function_settings) :
      f.environment["ROSTER_DATABASE_PASSWORD_SECRET_ARN"] == var.database_password_secret.arn
    && f.environment["ROSTER_STORE"] == "postgres" && f.environment["ROSTER_METRICS_FORMAT"] == "emf"])
    error_message = "The consumer and the scheduler are told the secret's ARN and the store."
  }
  assert {
    condition = alltrue([for f in values(output.function_settings) :
      [for s in jsondecode(f.database_secret_policy_json).Statement : [s.Action, s.Resource]]
    == [["secretsmanager:GetSecretValue", var.database_password_secret.arn], ["kms:Decrypt", var.database_password_secret.kms_key_arn]]])
    error_message = "Each role may read that one secret and decrypt its key, nothing more."
  }
  assert {
    condition     = output.function_settings.consumer.role_name == "roster-test-consumer" && output.function_settings.scheduler.role_name == "roster-test-scheduler"
    error_message = "One role per function."
  }
}
