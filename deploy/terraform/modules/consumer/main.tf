module "consumer" {
  source                   = "../lambda_function"
  name                     = "${var.name}-consumer"
  description              = "Roster: applies queued changes to the directory (SQS event source)"
  package                  = var.consumer_package
  architecture             = var.architecture
  memory_mb                = var.consumer_memory_mb
  timeout_seconds          = var.consumer_timeout_seconds
  reserved_concurrency     = var.reserved_concurrency
  environment              = var.roster_environment
  database_password_secret = var.database_password_secret
  policy_jsons             = merge({ queue = var.queue_policy_json }, var.extra_policy_jsons)
  subnet_ids               = var.subnet_ids
  security_group_ids       = [var.security_group_id]
  kms_key_arn              = var.kms_key_arn
  log_retention_days       = var.log_retention_days
  tags                     = var.tags
}

resource "aws_lambda_event_source_mapping" "queue" {
  event_source_arn = var.queue_arn
  function_name    = module.consumer.function_arn
  batch_size       = var.batch_size
  # Report only the failed messages (and, in a FIFO group, those after them).
  function_response_types = ["ReportBatchItemFailures"]
  # No maximum_batching_window_in_seconds: a FIFO queue takes none (Lambda
  # refuses a batching window on one), so a batch is what one poll returns.
  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }

  lifecycle {
    precondition {
      condition     = var.queue_visibility_timeout_seconds >= 6 * var.consumer_timeout_seconds
      error_message = "The queue's visibility timeout (${var.queue_visibility_timeout_seconds} s) must be at least 6 x the consumer's timeout (${var.consumer_timeout_seconds} s): set the queue module's consumer_timeout_seconds to the same value."
    }
  }
}

module "scheduler" {
  source          = "../lambda_function"
  name            = "${var.name}-scheduler"
  description     = "Roster: the cluster's periodic jobs, once per schedule"
  package         = var.scheduler_package
  architecture    = var.architecture
  timeout_seconds = var.scheduler_timeout_seconds
  # One at a time: the jobs take leases anyway, a second run would wait.
  reserved_concurrency     = 1
  environment              = var.roster_environment
  database_password_secret = var.database_password_secret
  policy_jsons             = merge({ queue = var.queue_policy_json }, var.extra_policy_jsons)
  subnet_ids               = var.subnet_ids
  security_group_ids       = [var.security_group_id]
  kms_key_arn              = var.kms_key_arn
  log_retention_days       = var.log_retention_days
  tags                     = var.tags
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "schedule_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    # Only schedules of this account may use the role (confused deputy).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "schedule" {
  name               = "${var.name}-schedule"
  assume_role_policy = data.aws_iam_policy_document.schedule_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "schedule" {
  statement {
    sid       = "InvokeScheduler"
    actions   = ["lambda:InvokeFunction"]
    resources = [module.scheduler.function_arn]
  }
  # The schedule is encrypted with kms_key_arn: Scheduler decrypts it with
  # the execution role's permissions when it runs.
  statement {
    sid       = "DecryptSchedule"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "schedule" {
  role   = aws_iam_role.schedule.id
  policy = data.aws_iam_policy_document.schedule.json
}

resource "aws_scheduler_schedule" "scheduler" {
  name                         = "${var.name}-scheduler"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = "UTC"
  kms_key_arn                  = var.kms_key_arn
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = module.scheduler.function_arn
    role_arn = aws_iam_role.schedule.arn
    # A missed run is superseded by the next one.
    retry_policy {
      maximum_retry_attempts       = 0
      maximum_event_age_in_seconds = 60
    }
  }
}
