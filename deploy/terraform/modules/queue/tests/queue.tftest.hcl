# Policy documents are real JSON to the resources that take them; the
# assertions read the documents' statements.
mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name = "roster-test"
}

run "defaults_follow_aws_guidance_and_roster" {
  assert {
    condition     = length(output.iam_statements) > 0 && alltrue([for s in output.iam_statements : !(contains(s.actions, "*") && contains(s.resources, "*"))])
    error_message = "No IAM statement allows every action on every resource."
  }
  assert {
    # HCL does not short-circuit: try() stands for "the DLQ, or a queue whose policy ...".
    condition = alltrue([for q in values(output.queues) : q.dead_letter_queue || try(
      q.redrive_policy.deadLetterTargetArn == aws_sqs_queue.dlq.arn && q.redrive_policy.maxReceiveCount == var.max_receive_count,
    false)]) && length(output.queues) == 2
    error_message = "Every SQS queue but the DLQ has a redrive policy into the DLQ with maxReceiveCount = max_receive_count."
  }
  assert {
    condition     = aws_sqs_queue.main.fifo_queue && aws_sqs_queue.dlq.fifo_queue
    error_message = "Roster needs a FIFO queue and a FIFO dead-letter queue."
  }
  assert {
    condition     = aws_sqs_queue.main.name == "roster-test.fifo" && aws_sqs_queue.dlq.name == "roster-test-dlq.fifo"
    error_message = "Queue names must follow NAME.fifo / NAME-dlq.fifo."
  }
  assert {
    condition     = aws_sqs_queue.main.visibility_timeout_seconds >= 6 * var.consumer_timeout_seconds
    error_message = "The visibility timeout must be at least 6 x the consumer's timeout."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.main.redrive_policy).maxReceiveCount == 5
    error_message = "maxReceiveCount must default to Roster's max_receive_count default, 5."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.main.redrive_policy).deadLetterTargetArn == aws_sqs_queue.dlq.arn
    error_message = "The main queue must redrive to the DLQ."
  }
  assert {
    condition     = aws_sqs_queue.dlq.message_retention_seconds == 1209600 && aws_sqs_queue.main.message_retention_seconds == 1209600
    error_message = "Both queues must keep messages 14 days."
  }
  assert {
    condition     = aws_sqs_queue.main.sqs_managed_sse_enabled && aws_sqs_queue.dlq.sqs_managed_sse_enabled
    error_message = "Both queues must be encrypted (SSE-SQS by default)."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_allow_policy.dlq[0].redrive_allow_policy).sourceQueueArns == [aws_sqs_queue.main.arn]
    error_message = "Only the main queue may use the DLQ."
  }
  assert {
    condition     = !aws_sqs_queue.main.content_based_deduplication
    error_message = "Roster sends its own deduplication ids."
  }
  assert {
    condition     = output.roster_environment.ROSTER_MAX_RECEIVE_COUNT == "5" && output.roster_environment.ROSTER_QUEUE == "sqs"
    error_message = "Roster's settings must carry the same max_receive_count."
  }
}

run "max_receive_count_reaches_queue_and_roster" {
  variables {
    max_receive_count        = 8
    consumer_timeout_seconds = 120
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.main.redrive_policy).maxReceiveCount == 8 && output.roster_environment.ROSTER_MAX_RECEIVE_COUNT == "8"
    error_message = "maxReceiveCount and ROSTER_MAX_RECEIVE_COUNT must both be the variable."
  }
  assert {
    condition     = aws_sqs_queue.main.visibility_timeout_seconds == 720
    error_message = "The visibility timeout must default to 6 x consumer_timeout_seconds."
  }
}

run "policies_name_their_queues_and_ingest_cannot_consume" {
  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.send.statement :
    !contains(s.actions, "sqs:ReceiveMessage") && !contains(s.actions, "sqs:DeleteMessage")])
    error_message = "The ingest (send) policy must not receive or delete."
  }
  assert {
    condition = alltrue(flatten([for d in [data.aws_iam_policy_document.send, data.aws_iam_policy_document.consume] :
    [for s in d.statement : alltrue([for r in s.resources : contains([aws_sqs_queue.main.arn, aws_sqs_queue.dlq.arn], r)])]]))
    error_message = "Every queue permission must name the queue or the DLQ."
  }
  assert {
    condition     = contains(data.aws_iam_policy_document.consume.statement[0].actions, "sqs:ChangeMessageVisibility") && data.aws_iam_policy_document.consume.statement[0].resources == toset([aws_sqs_queue.main.arn])
    error_message = "The consumer must receive, delete and change visibility on its queue."
  }
}

run "kms_key_replaces_sse_sqs" {
  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/test"
  }
  assert {
    condition     = aws_sqs_queue.main.kms_master_key_id == var.kms_key_arn && aws_sqs_queue.dlq.kms_master_key_id == var.kms_key_arn
    error_message = "With a KMS key the queue uses SSE-KMS."
  }
  assert {
    condition     = contains(flatten([for s in data.aws_iam_policy_document.send.statement : s.resources]), var.kms_key_arn)
    error_message = "Senders must be allowed to use the key."
  }
}

run "rejects_visibility_timeout_below_six_times" {
  command = plan
  variables {
    consumer_timeout_seconds   = 60
    visibility_timeout_seconds = 120
  }
  expect_failures = [var.visibility_timeout_seconds]
}

run "rejects_max_receive_count_out_of_range" {
  command = plan
  variables {
    max_receive_count = 0
  }
  expect_failures = [var.max_receive_count]
}

run "rejects_bad_name" {
  command = plan
  variables {
    name = "no spaces.fifo"
  }
  expect_failures = [var.name]
}
