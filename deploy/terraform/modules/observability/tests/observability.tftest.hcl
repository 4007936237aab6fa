# A mock AWS (tests/mocks, shared by the modules): nothing is created.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                  = "roster-test"
  queue_name            = "roster-test.fifo"
  dlq_name              = "roster-test-dlq.fifo"
  alarm_email           = "ops@example.com"
  log_groups            = { console = "/ecs/roster-test" }
  lambda_function_names = { consumer = "roster-test-consumer", ingest = "roster-test-ingest" }
}

run "alarms_watch_the_dlq_the_queue_and_the_functions" {
  assert {
    condition     = length(output.iam_statements) > 0 && alltrue([for s in output.iam_statements : !(contains(s.actions, "*") && contains(s.resources, "*"))])
    error_message = "No IAM statement allows every action on every resource."
  }
  assert {
    condition     = length(output.log_groups) > 0 && alltrue([for name, days in output.log_groups : days != null && days > 0])
    error_message = "Every log group this module makes has a retention."
  }
  assert {
    condition = (aws_cloudwatch_metric_alarm.dlq_depth.metric_name == "ApproximateNumberOfMessagesVisible"
      && aws_cloudwatch_metric_alarm.dlq_depth.dimensions.QueueName == "roster-test-dlq.fifo"
      && aws_cloudwatch_metric_alarm.dlq_depth.comparison_operator == "GreaterThanThreshold"
    && aws_cloudwatch_metric_alarm.dlq_depth.threshold == 0)
    error_message = "An alarm must fire when the DLQ holds any message."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.oldest_message_age.metric_name == "ApproximateAgeOfOldestMessage" && aws_cloudwatch_metric_alarm.oldest_message_age.dimensions.QueueName == "roster-test.fifo"
    error_message = "An alarm must watch the age of the main queue's oldest message."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.lambda_errors) == 2 && length(aws_cloudwatch_metric_alarm.lambda_throttles) == 2
    error_message = "Every function gets an errors and a throttles alarm."
  }
  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.emf)) == toset(["halted_feeds", "failed_records", "outbox_backlog"]) && aws_cloudwatch_metric_alarm.emf["halted_feeds"].namespace == "Roster"
    error_message = "Roster's EMF metrics must be alarmed on."
  }
  assert {
    condition = (aws_cloudwatch_metric_alarm.emf["halted_feeds"].metric_name == "Feeds"
      && aws_cloudwatch_metric_alarm.emf["halted_feeds"].dimensions.Status == "halted"
      && aws_cloudwatch_metric_alarm.emf["failed_records"].metric_name == "MessagesDeadLettered"
    && length(aws_cloudwatch_metric_alarm.emf["failed_records"].dimensions) == 0)
    error_message = "The EMF alarms must name what roster writes with metrics_format = emf (crates/roster-server/src/metrics/emf.rs): halted feeds by their Status dimension, dead letters as the platform's total."
  }
  assert {
    condition = alltrue([for a in concat([aws_cloudwatch_metric_alarm.dlq_depth, aws_cloudwatch_metric_alarm.oldest_message_age], values(aws_cloudwatch_metric_alarm.emf)) :
    a.alarm_actions == toset([aws_sns_topic.alarms.arn])])
    error_message = "Every alarm must notify the topic."
  }
  assert {
    condition     = aws_sns_topic_subscription.email[0].protocol == "email" && aws_sns_topic_subscription.email[0].endpoint == "ops@example.com"
    error_message = "The e-mail address must be subscribed."
  }
  assert {
    condition     = aws_sns_topic.alarms.kms_master_key_id == aws_kms_key.this.arn
    error_message = "The topic must be encrypted."
  }
  assert {
    condition     = anytrue([for s in data.aws_iam_policy_document.key.statement : contains(flatten([for p in s.principals : p.identifiers]), "cloudwatch.amazonaws.com")])
    error_message = "CloudWatch must be allowed to use the topic's key, or alarms cannot publish."
  }
}

run "every_log_group_has_a_retention" {
  variables {
    log_retention_days = 90
  }
  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.this : g.retention_in_days == 90 && g.kms_key_id == aws_kms_key.this.arn])
    error_message = "Every log group must have the retention and be encrypted."
  }
}

run "no_emf_alarms_without_a_namespace" {
  variables {
    emf_namespace = null
    alarm_email   = null
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.emf) == 0 && length(aws_sns_topic_subscription.email) == 0
    error_message = "No EMF alarms without a namespace; no subscription without an address."
  }
}

run "rejects_a_retention_cloudwatch_does_not_offer" {
  command = plan
  variables {
    log_retention_days = 10
  }
  expect_failures = [var.log_retention_days]
}

run "rejects_a_bad_email" {
  command = plan
  variables {
    alarm_email = "ops-at-example.com"
  }
  expect_failures = [var.alarm_email]
}
