# The smallest environment on a mock AWS (tests/mocks, shared with the
# modules): nothing is created. What is checked here is the wiring between
# queue, database and consumer — each module's own invariants are its own tests'.
mock_provider "aws" {
  source = "../../tests/mocks"
}

# RDS fills master_user_secret in; a mock must say what it holds.
override_resource {
  target = module.database.aws_db_instance.this
  values = {
    arn     = "arn:aws:rds:eu-west-1:111122223333:db:roster-test"
    port    = 5432
    address = "roster-test.abc.eu-west-1.rds.amazonaws.com"
    master_user_secret = [{
      secret_arn    = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-test"
      kms_key_id    = "arn:aws:kms:eu-west-1:111122223333:key/db"
      secret_status = "active"
    }]
  }
}

variables {
  region                     = "eu-west-1"
  name                       = "roster-test"
  subnet_ids                 = ["subnet-a", "subnet-b"]
  lambda_security_group_id   = "sg-lambda"
  database_security_group_id = "sg-database"
  lambda_package_dir         = "../../tests/fixtures/lambda"
}

run "the_consumer_and_scheduler_run_on_this_queue_and_database" {
  assert {
    condition     = toset(keys(module.consumer.function_settings)) == toset(["consumer", "scheduler"])
    error_message = "The minimal environment runs the consumer and the scheduler, no ingest function."
  }
  assert {
    condition = alltrue([for f in values(module.consumer.function_settings) :
      f.environment.ROSTER_QUEUE == "sqs"
      && f.environment.ROSTER_SQS_QUEUE_URL == module.queue.queue_url
      && f.environment.ROSTER_SQS_DLQ_URL == module.queue.dlq_url
      && f.environment.ROSTER_STORE == "postgres"
      && f.environment.ROSTER_DATABASE_URL == module.database.database_url
    && f.environment.ROSTER_DATABASE_PASSWORD_SECRET_ARN == module.database.master_secret_arn])
    error_message = "Both functions use the queue, the DLQ, the database and the master secret this environment made."
  }
  assert {
    condition = alltrue([for k, f in module.consumer.function_settings :
      f.package.filename == "../../tests/fixtures/lambda/roster-lambda-${k}/bootstrap.zip"
    && f.package.source_code_hash == filebase64sha256(f.package.filename)])
    error_message = "Each function is deployed from the zip scripts/package-lambdas wrote for it, by its hash."
  }
  assert {
    condition     = module.consumer.event_source_arn == module.queue.queue_arn
    error_message = "The consumer reads the main queue."
  }
  assert {
    condition     = output.queue_url == module.queue.queue_url && output.dlq_url == module.queue.dlq_url && output.database_url == module.database.database_url
    error_message = "The environment's outputs are what its modules made."
  }
}

run "no_password_in_plain_text" {
  assert {
    condition = alltrue([for f in values(module.consumer.function_settings) :
      alltrue([for k, v in f.environment :
        (!strcontains(k, "PASSWORD") || k == "ROSTER_DATABASE_PASSWORD_SECRET_ARN")
    && !can(regex("://[^/@:]*:[^/@]*@", v))])])
    error_message = "No function's environment holds a password, as a variable or inside a URL: only the secret's ARN."
  }
  assert {
    condition = alltrue([for f in values(module.consumer.function_settings) :
      [for s in jsondecode(f.database_secret_policy_json).Statement : [s.Action, s.Resource]]
    == [["secretsmanager:GetSecretValue", module.database.master_secret_arn], ["kms:Decrypt", module.database.kms_key_arn]]])
    error_message = "Each function's role may read the master secret and decrypt it with the database's key, nothing more."
  }
}

run "every_queue_but_the_dlq_dead_letters_into_it" {
  assert {
    # HCL does not short-circuit: try() stands for "the DLQ, or a queue whose policy ...".
    condition = alltrue([for q in values(module.queue.queues) : q.dead_letter_queue || try(
      q.redrive_policy.deadLetterTargetArn == module.queue.dlq_arn && q.redrive_policy.maxReceiveCount == module.queue.max_receive_count,
    false)])
    error_message = "Every queue but the DLQ has a redrive policy into the DLQ."
  }
  assert {
    condition     = length([for q in values(module.queue.queues) : q if q.dead_letter_queue]) == 1 && alltrue([for q in values(module.queue.queues) : !q.dead_letter_queue || q.redrive_policy == null])
    error_message = "One DLQ, which redrives nowhere."
  }
  assert {
    condition     = module.queue.visibility_timeout_seconds >= 6 * 60
    error_message = "The queue's visibility timeout is at least 6 x the consumer's 60 s timeout."
  }
}

# The issue's invariants over the environment, from what each module
# reports of itself (iam_statements, log_groups, settings, event_source).
run "the_environment_keeps_the_invariants" {
  assert {
    condition = alltrue([for s in concat(
      module.queue.iam_statements, module.database.iam_statements, module.consumer.iam_statements,
      [for s in data.aws_iam_policy_document.key.statement : { actions = tolist(s.actions), resources = tolist(s.resources) }],
    ) : !(contains(s.actions, "*") && contains(s.resources, "*"))])
    error_message = "No IAM or key policy statement of the environment allows every action on every resource."
  }
  assert {
    condition = alltrue([for name, days in merge(module.database.log_groups, module.consumer.log_groups) : days != null && days > 0]) && alltrue([for g in [
      "/aws/lambda/roster-test-consumer", "/aws/lambda/roster-test-scheduler", "/aws/rds/instance/roster-test/postgresql", "/aws/rds/instance/roster-test/upgrade",
    ] : contains(keys(merge(module.database.log_groups, module.consumer.log_groups)), g)])
    error_message = "Every log group of the environment (both functions', RDS's exports) is made with a retention."
  }
  assert {
    condition = (!module.database.settings.publicly_accessible && module.database.settings.storage_encrypted &&
    module.database.settings.parameters["rds.force_ssl"] == "1" && module.database.settings.multi_az)
    error_message = "RDS is private, encrypted, TLS-only (rds.force_ssl) and Multi-AZ."
  }
  assert {
    condition = (module.consumer.event_source.event_source_arn == module.queue.queue_arn &&
      module.consumer.event_source.function_response_types == toset(["ReportBatchItemFailures"]) &&
    module.consumer.event_source.maximum_concurrency >= 2)
    error_message = "The consumer reads the main queue with ReportBatchItemFailures and MaximumConcurrency."
  }
  assert {
    condition     = anytrue([for s in data.aws_iam_policy_document.key.statement : contains(flatten([for p in s.principals : p.identifiers]), "logs.eu-west-1.amazonaws.com") && length(s.condition) == 1])
    error_message = "The key lets CloudWatch Logs use it for this account's log groups only."
  }
}
