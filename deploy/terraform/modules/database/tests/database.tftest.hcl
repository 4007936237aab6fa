# A mock AWS (tests/mocks, shared by the modules): nothing is created.
mock_provider "aws" {
  source = "../../tests/mocks"
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
    condition     = length(output.iam_statements) > 0 && alltrue([for s in output.iam_statements : !(contains(s.actions, "*") && contains(s.resources, "*"))])
    error_message = "No IAM statement allows every action on every resource."
  }
  assert {
    condition     = length(output.log_groups) > 0 && alltrue([for name, days in output.log_groups : days != null && days > 0])
    error_message = "Every log group this module makes has a retention."
  }
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
    condition     = output.password_secret == { arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-test", kms_key_arn = aws_kms_key.db[0].arn }
    error_message = "The functions are given the master secret and the key it is encrypted with."
  }
  assert {
    condition     = length(aws_db_proxy.this) == 0 && length(aws_cloudwatch_log_group.proxy) == 0
    error_message = "No proxy unless asked."
  }
  assert {
    condition = (toset(keys(aws_cloudwatch_log_group.exports)) == toset(aws_db_instance.this.enabled_cloudwatch_logs_exports)
      && alltrue([for k, g in aws_cloudwatch_log_group.exports : g.name == "/aws/rds/instance/roster-test/${k}" && g.retention_in_days == 365])
    && length(aws_cloudwatch_log_group.os_metrics) == 0)
    error_message = "Every log the instance exports goes to a log group made here with a retention (RDS would make one kept for ever); RDSOSMetrics only when asked."
  }
  assert {
    condition = alltrue([for d in [data.aws_iam_policy_document.key, data.aws_iam_policy_document.proxy, data.aws_iam_policy_document.monitoring_assume, data.aws_iam_policy_document.proxy_assume] :
    alltrue([for s in d.statement : !(contains(s.actions, "*") && contains(coalesce(s.resources, []), "*"))])])
    error_message = "No IAM statement allows every action on every resource."
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
  assert {
    condition     = aws_cloudwatch_log_group.proxy[0].name == "/aws/rds/proxy/roster-test" && aws_cloudwatch_log_group.proxy[0].retention_in_days == 365
    error_message = "The proxy's log group is made with a retention."
  }
}

run "rds_os_metrics_with_a_retention_when_asked" {
  variables {
    manage_os_metrics_log_group = true
    log_retention_days          = 90
    log_kms_key_arn             = "arn:aws:kms:eu-west-1:111122223333:key/logs"
  }
  assert {
    condition = (aws_cloudwatch_log_group.os_metrics[0].name == "RDSOSMetrics"
      && alltrue([for g in concat(values(aws_cloudwatch_log_group.exports), aws_cloudwatch_log_group.os_metrics) : g.retention_in_days == 90 && g.kms_key_id == var.log_kms_key_arn])
    && output.log_group_names.os_metrics == "RDSOSMetrics")
    error_message = "With manage_os_metrics_log_group, RDSOSMetrics is made too; every log group takes the retention and the logs key."
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

run "the_instance_is_verified_against_the_rds_bundle_when_given" {
  variables {
    ssl_root_cert = "/var/task/rds-global-bundle.pem"
  }
  assert {
    condition     = endswith(output.database_url, "/roster?sslmode=verify-full&sslrootcert=/var/task/rds-global-bundle.pem")
    error_message = "Without the proxy, the URL names the RDS certificate bundle to verify the instance with."
  }
}
