# The whole environment on a mock AWS (tests/mocks, shared with the
# modules): nothing is created. What is checked here is the wiring between
# the modules — each module's own invariants are its own tests'.
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
override_resource {
  target = module.database.aws_db_proxy_default_target_group.this
  values = { name = "default" }
}

variables {
  region                = "eu-west-1"
  name                  = "roster-test"
  availability_zones    = ["eu-west-1a", "eu-west-1b"]
  lambda_package_dir    = "../../tests/fixtures/lambda"
  image                 = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/roster:1.4.0"
  ecr_repository_arn    = "arn:aws:ecr:eu-west-1:111122223333:repository/roster"
  console_domain_name   = "roster.example.com"
  zone_id               = "Z123"
  cognito_domain_prefix = "acme-roster-test"
  alarm_email           = "oncall@example.com"
}

run "every_function_runs_on_the_queue_and_database_the_environment_made" {
  assert {
    condition     = toset(keys(merge(module.consumer.function_settings, module.ingest_api.function_settings))) == toset(["ingest", "consumer", "scheduler"])
    error_message = "The environment runs the three functions: ingest, consumer, scheduler."
  }
  assert {
    condition = alltrue([for f in values(merge(module.consumer.function_settings, module.ingest_api.function_settings)) :
      f.environment.ROSTER_QUEUE == "sqs"
      && f.environment.ROSTER_SQS_QUEUE_URL == module.queue.queue_url
      && f.environment.ROSTER_SQS_DLQ_URL == module.queue.dlq_url
    && f.environment.ROSTER_MAX_RECEIVE_COUNT == tostring(module.queue.max_receive_count)])
    error_message = "Every function is configured with the queue and DLQ the queue module made, and its maxReceiveCount."
  }
  assert {
    condition = alltrue([for f in values(merge(module.consumer.function_settings, module.ingest_api.function_settings)) :
      f.environment.ROSTER_STORE == "postgres"
      && f.environment.ROSTER_DATABASE_URL == module.database.database_url
    && f.environment.ROSTER_DATABASE_PASSWORD_SECRET_ARN == module.database.master_secret_arn])
    error_message = "Every function uses the PostgreSQL directory the database module made, and its master secret."
  }
  assert {
    condition     = alltrue([for f in values(merge(module.consumer.function_settings, module.ingest_api.function_settings)) : f.environment.ROSTER_METRICS_FORMAT == "emf"])
    error_message = "The functions publish EMF metrics, which observability alarms on."
  }
  assert {
    condition = alltrue([for k, f in merge(module.consumer.function_settings, module.ingest_api.function_settings) :
      f.package.filename == "../../tests/fixtures/lambda/roster-lambda-${k}/bootstrap.zip"
    && f.package.source_code_hash == filebase64sha256(f.package.filename)])
    error_message = "Each function is deployed from the zip scripts/package-lambdas wrote for it (target/lambda/roster-lambda-NAME/bootstrap.zip), by its hash."
  }
  assert {
    condition     = module.consumer.event_source_arn == module.queue.queue_arn && module.consumer.event_source_arn != module.queue.dlq_arn
    error_message = "The consumer reads the main queue, not the DLQ."
  }
}

run "no_password_in_plain_text" {
  assert {
    condition = alltrue([for f in values(merge(module.consumer.function_settings, module.ingest_api.function_settings)) :
      alltrue([for k, v in f.environment :
        (!strcontains(k, "PASSWORD") || k == "ROSTER_DATABASE_PASSWORD_SECRET_ARN")
    && !can(regex("://[^/@:]*:[^/@]*@", v))])])
    error_message = "No function's environment holds a password, as a variable or inside a URL: only the secret's ARN."
  }
  assert {
    condition     = !can(regex("://[^/@:]*:[^/@]*@", module.database.database_url)) && !can(regex("://[^/@:]*:[^/@]*@", output.database_url))
    error_message = "The database URL (and the output of it) carries no password."
  }
  assert {
    condition = alltrue([for f in values(merge(module.consumer.function_settings, module.ingest_api.function_settings)) :
      [for s in jsondecode(f.database_secret_policy_json).Statement : [s.Action, s.Resource]]
    == [["secretsmanager:GetSecretValue", module.database.master_secret_arn], ["kms:Decrypt", module.database.kms_key_arn]]])
    error_message = "Each function's role may read the master secret, and decrypt it with the database's key, and nothing else of Secrets Manager."
  }
  assert {
    condition = alltrue([for p in concat(
      [for f in values(merge(module.consumer.function_settings, module.ingest_api.function_settings)) : f.database_secret_policy_json],
      [module.observability.publish_policy_json],
      ) : alltrue([for s in jsondecode(p).Statement :
    !(contains(flatten([s.Action]), "*") && contains(flatten([s.Resource]), "*"))])])
    error_message = "No IAM statement allows every action on every resource."
  }
}

run "every_queue_but_the_dlq_dead_letters_into_it" {
  assert {
    # HCL does not short-circuit: try() stands for "the DLQ, or a queue whose policy ...".
    condition = alltrue([for q in values(module.queue.queues) : q.dead_letter_queue || try(
      q.redrive_policy.deadLetterTargetArn == module.queue.dlq_arn && q.redrive_policy.maxReceiveCount == var.max_receive_count,
    false)])
    error_message = "Every queue but the DLQ has a redrive policy into the DLQ after max_receive_count receives."
  }
  assert {
    condition     = length([for q in values(module.queue.queues) : q if q.dead_letter_queue]) == 1 && alltrue([for q in values(module.queue.queues) : !q.dead_letter_queue || q.redrive_policy == null])
    error_message = "One DLQ, which redrives nowhere."
  }
  assert {
    condition     = module.queue.visibility_timeout_seconds >= 6 * var.consumer_timeout_seconds
    error_message = "The queue's visibility timeout is at least 6 x the consumer's timeout."
  }
}

run "outputs_are_the_modules_own" {
  assert {
    condition = (output.queue_url == module.queue.queue_url && output.dlq_url == module.queue.dlq_url
      && output.database_url == module.database.database_url && output.api_url == module.ingest_api.url
      && output.console_url == module.admin_service.url && output.alarm_topic_arn == module.observability.alarm_topic_arn
    && output.migrate_command == module.admin_service.migrate_command)
    error_message = "The environment's outputs are what its modules made."
  }
  assert {
    condition = alltrue([for k in ["ingest", "consumer", "scheduler"] :
      contains(module.observability.alarm_names, "roster-test-${k}-errors")
    && contains(module.observability.alarm_names, "roster-test-${k}-throttles")])
    error_message = "Every function's errors and throttles raise an alarm."
  }
  assert {
    condition     = contains(module.observability.alarm_names, "roster-test-dlq-depth") && contains(module.observability.alarm_names, "roster-test-oldest-message-age")
    error_message = "The DLQ's depth and the main queue's oldest message raise alarms."
  }
}

run "packages_from_s3" {
  variables {
    lambda_packages = {
      for f in ["ingest", "consumer", "scheduler"] : f => {
        s3_bucket        = "acme-artifacts"
        s3_key           = "roster/1.4.0/roster-lambda-${f}.zip"
        source_code_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
      }
    }
  }
  assert {
    condition = alltrue([for k, f in merge(module.consumer.function_settings, module.ingest_api.function_settings) :
      f.package.s3_bucket == "acme-artifacts" && f.package.s3_key == "roster/1.4.0/roster-lambda-${k}.zip"
    && f.package.filename == null && f.package.source_code_hash == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="])
    error_message = "Each function is deployed from its own object in S3, with its hash."
  }
}

run "refuses_s3_packages_that_miss_a_function" {
  command = plan
  variables {
    lambda_packages = { ingest = { s3_bucket = "acme-artifacts", s3_key = "roster-lambda-ingest.zip" } }
  }
  expect_failures = [var.lambda_packages]
}

# The issue's invariants over the whole environment, from what each module
# reports of itself (iam_statements, log_groups, settings, listeners).
run "the_environment_keeps_the_invariants" {
  assert {
    condition = alltrue([for s in concat(
      module.network.iam_statements, module.queue.iam_statements, module.database.iam_statements,
      module.ingest_api.iam_statements, module.consumer.iam_statements, module.admin_service.iam_statements,
      module.observability.iam_statements,
    ) : !(contains(s.actions, "*") && contains(s.resources, "*"))])
    error_message = "No IAM or key policy statement of the environment allows every action on every resource."
  }
  assert {
    condition = alltrue([for s in concat(module.ingest_api.iam_statements, module.consumer.iam_statements, module.admin_service.iam_statements) :
    s.effect != "Allow" || !contains(s.resources, "*") || alltrue([for a in s.actions : startswith(a, "ec2:Describe") || startswith(a, "xray:") || a == "ecr:GetAuthorizationToken" || a == "sts:AssumeRole"])])
    error_message = "The functions' and the service's roles name their resources; '*' only for the calls AWS gives no resource-level permission."
  }
  assert {
    condition = alltrue([for name, days in merge(
      module.network.log_groups, module.database.log_groups, module.ingest_api.log_groups,
      module.consumer.log_groups, module.admin_service.log_groups, module.observability.log_groups,
    ) : days != null && days > 0])
    error_message = "Every log group of the environment has a retention."
  }
  assert {
    condition = alltrue([for g in [
      "/aws/lambda/roster-test-ingest", "/aws/lambda/roster-test-consumer", "/aws/lambda/roster-test-scheduler",
      "/aws/apigateway/roster-test/access", "/ecs/roster-test", "/vpc/roster-test/flow-logs",
      "/aws/rds/instance/roster-test/postgresql", "/aws/rds/instance/roster-test/upgrade", "/aws/rds/proxy/roster-test",
      ] : contains(keys(merge(
        module.network.log_groups, module.database.log_groups, module.ingest_api.log_groups,
        module.consumer.log_groups, module.admin_service.log_groups, module.observability.log_groups,
    )), g)])
    error_message = "Every function, the service, the API's access logs, the flow logs, RDS's exports and the proxy have a log group made with a retention."
  }
  assert {
    condition = (!module.database.settings.publicly_accessible && module.database.settings.storage_encrypted &&
      module.database.settings.parameters["rds.force_ssl"] == "1" && module.database.settings.proxy_require_tls &&
    module.database.settings.deletion_protection && module.database.settings.multi_az)
    error_message = "RDS is private, encrypted, TLS-only (rds.force_ssl, and the proxy requires TLS), protected and Multi-AZ."
  }
  assert {
    condition = alltrue([for l in values(module.admin_service.listeners) : alltrue([for a in l.actions :
    a.type != "forward" || anytrue([for b in l.actions : startswith(b.type, "authenticate-") && b.order < a.order])])])
    error_message = "Every ALB listener action that forwards comes after one that authenticates."
  }
  assert {
    condition = ([for a in module.admin_service.listeners.http.actions : a.type] == ["redirect"] &&
      module.admin_service.listeners.https.protocol == "HTTPS" &&
    startswith(module.admin_service.listeners.https.ssl_policy, "ELBSecurityPolicy-TLS13-1-2"))
    error_message = "Port 80 only redirects; 443 is HTTPS with a modern TLS policy."
  }
  assert {
    condition = (module.consumer.event_source.event_source_arn == module.queue.queue_arn &&
      module.consumer.event_source.function_response_types == toset(["ReportBatchItemFailures"]) &&
    module.consumer.event_source.maximum_concurrency >= 2 && module.consumer.event_source.batch_size <= 10)
    error_message = "The consumer reads the main queue with ReportBatchItemFailures, a FIFO batch of at most 10, and MaximumConcurrency."
  }
  assert {
    condition     = strcontains(module.admin_service.console_config, "signer_arn = ") && strcontains(module.admin_service.console_config, "public_url = \"https://roster.example.com\"")
    error_message = "The console verifies the ALB's signed header, on the console's own origin."
  }
}
