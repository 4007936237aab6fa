# A mock AWS (tests/mocks, shared by the modules): nothing is created.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                  = "roster-test"
  image                 = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/roster:1.0.0"
  ecr_repository_arn    = "arn:aws:ecr:eu-west-1:111122223333:repository/roster"
  roster_environment    = { ROSTER_QUEUE = "sqs" }
  vpc_id                = "vpc-1"
  private_subnet_ids    = ["subnet-a", "subnet-b"]
  public_subnet_ids     = ["subnet-c", "subnet-d"]
  alb_security_group_id = "sg-alb"
  app_security_group_id = "sg-app"
  domain_name           = "roster.example.com"
  zone_id               = "Z123"
  cognito_domain_prefix = "acme-roster"
  kms_key_arn           = "arn:aws:kms:eu-west-1:111122223333:key/test"
}

run "every_forward_is_authenticated_first_over_modern_tls" {
  assert {
    condition     = length(output.iam_statements) > 0 && alltrue([for s in output.iam_statements : !(contains(s.actions, "*") && contains(s.resources, "*"))])
    error_message = "No IAM statement allows every action on every resource."
  }
  assert {
    condition     = length(output.log_groups) > 0 && alltrue([for name, days in output.log_groups : days != null && days > 0])
    error_message = "Every log group this module makes has a retention."
  }
  assert {
    condition = alltrue([for l in [aws_lb_listener.https] : alltrue([for a in l.default_action :
      a.type != "forward" || anytrue([for b in l.default_action : startswith(b.type, "authenticate-") && b.order < a.order])
    ])])
    error_message = "Every forwarding action must come after an authenticate action."
  }
  assert {
    condition     = [for a in aws_lb_listener.https.default_action : a.type] == ["authenticate-cognito", "forward"]
    error_message = "The HTTPS listener signs in with Cognito, then forwards."
  }
  assert {
    condition     = aws_lb_listener.https.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06" && aws_lb_listener.https.protocol == "HTTPS"
    error_message = "HTTPS with a TLS 1.3/1.2 policy."
  }
  assert {
    condition     = aws_lb_listener.http.default_action[0].type == "redirect" && aws_lb_listener.http.default_action[0].redirect[0].protocol == "HTTPS"
    error_message = "Port 80 only redirects to HTTPS."
  }
  assert {
    condition     = aws_lb.this.drop_invalid_header_fields && aws_lb.this.enable_deletion_protection
    error_message = "The ALB drops invalid headers and is protected from deletion."
  }
  assert {
    condition     = aws_cognito_user_pool_client.alb.callback_urls == toset(["https://roster.example.com/oauth2/idpresponse"]) && aws_cognito_user_pool.this.admin_create_user_config[0].allow_admin_create_user_only
    error_message = "The ALB's client calls back to the console; nobody signs up by themselves."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.app.container_definitions)[0].readonlyRootFilesystem && jsondecode(aws_ecs_task_definition.app.container_definitions)[0].user != "0"
    error_message = "The container runs as a non-root user on a read-only root file system."
  }
  assert {
    condition     = strcontains(jsondecode(aws_ecs_task_definition.app.container_definitions)[0].healthCheck.command[1], "/healthz")
    error_message = "ECS checks the container's /healthz (the Dockerfile's HEALTHCHECK, which ECS does not read)."
  }
  assert {
    condition     = aws_ecs_service.app.network_configuration[0].assign_public_ip == false && aws_cloudwatch_log_group.app.retention_in_days == 365
    error_message = "Tasks have no public address; their log group has a retention."
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.execution.statement : !contains(s.resources, "*") || s.actions == toset(["ecr:GetAuthorizationToken"])])
    error_message = "The execution role names its resources (GetAuthorizationToken has none)."
  }
}

run "rejects_an_old_tls_policy" {
  command = plan
  variables {
    ssl_policy = "ELBSecurityPolicy-2016-08"
  }
  expect_failures = [var.ssl_policy]
}

run "rejects_a_tls13_policy_that_lets_tls_1_0_in" {
  command = plan
  variables {
    ssl_policy = "ELBSecurityPolicy-TLS13-1-0-2021-06"
  }
  expect_failures = [var.ssl_policy]
}

run "takes_a_tls_1_3_only_policy" {
  command = plan
  variables {
    ssl_policy = "ELBSecurityPolicy-TLS13-1-3-2021-06"
  }
  assert {
    condition     = aws_lb_listener.https.ssl_policy == "ELBSecurityPolicy-TLS13-1-3-2021-06"
    error_message = "A TLS 1.3-only policy is modern enough."
  }
}

run "rejects_a_long_name" {
  command = plan
  variables {
    name = "roster-production-console-eu"
  }
  expect_failures = [var.name]
}

run "the_database_password_is_injected_from_its_secret" {
  variables {
    secrets             = { ROSTER_DATABASE_PASSWORD = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-1234-AbCdEf:password::" }
    secret_arns         = ["arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-1234-AbCdEf"]
    secret_kms_key_arns = ["arn:aws:kms:eu-west-1:111122223333:key/db"]
  }
  assert {
    condition = (jsondecode(aws_ecs_task_definition.app.container_definitions)[0].secrets
      == [{ name = "ROSTER_DATABASE_PASSWORD", valueFrom = var.secrets.ROSTER_DATABASE_PASSWORD }] &&
    !anytrue([for e in jsondecode(aws_ecs_task_definition.app.container_definitions)[0].environment : strcontains(e.name, "PASSWORD")]))
    error_message = "The password reaches the task from Secrets Manager, never as a plain environment variable."
  }
  assert {
    condition = [for s in data.aws_iam_policy_document.execution.statement : [s.sid, s.actions, s.resources] if startswith(s.sid, "InjectSecrets") || startswith(s.sid, "Decrypt")] == [
      ["InjectSecrets", toset(["secretsmanager:GetSecretValue"]), toset(var.secret_arns)],
      ["DecryptInjectedSecrets", toset(["kms:Decrypt"]), toset(var.secret_kms_key_arns)],
    ]
    error_message = "The execution role reads those secrets and decrypts their key, nothing else."
  }
}

run "migrate_runs_as_a_one_off_task_of_the_service" {
  assert {
    condition = (strcontains(output.migrate_command, "--task-definition roster-test ") &&
      strcontains(output.migrate_command, "subnets=[subnet-a,subnet-b],securityGroups=[sg-app]") &&
    jsondecode(regex("--overrides '([^']+)'", output.migrate_command)[0]).containerOverrides == [{ name = "roster", command = ["migrate"] }])
    error_message = "The migrate command runs `roster migrate` in the service's container, subnets and security group."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.app.container_definitions)[0].name == "roster"
    error_message = "The override names the task definition's container."
  }
}

run "the_console_verifies_the_albs_signed_header" {
  assert {
    condition = output.console_config == join("\n", [
      "# Written by Terraform (deploy/terraform/modules/admin_service).",
      "[console]",
      "public_url = \"https://roster.example.com\"",
      "groups_claim = \"custom:roster_groups\"",
      "",
      "[console.alb]",
      "signer_arn = \"arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/roster-test/0123456789abcdef\"",
      "region = \"eu-west-1\"",
      "",
      "[[console.roles]]",
      "group = \"roster-operators\"",
      "role = \"operator\"",
      "",
    ])
    error_message = "The console runs in ALB mode: it trusts only x-amzn-oidc-data signed by this ALB (crates/roster-console's [console.alb]), on the console's origin, with the groups of custom:roster_groups."
  }
  assert {
    condition = (
      [for e in jsondecode(aws_ecs_task_definition.app.container_definitions)[0].environment : e.value if e.name == "ROSTER_CONFIG"] == ["/etc/roster/roster.toml"] &&
      jsondecode(aws_ecs_task_definition.app.container_definitions)[0].dependsOn == [{ containerName = "console-config", condition = "SUCCESS" }] &&
      contains(jsondecode(aws_ecs_task_definition.app.container_definitions)[0].mountPoints, { sourceVolume = "config", containerPath = "/etc/roster", readOnly = true })
    )
    error_message = "roster reads the settings (ROSTER_CONFIG) from the read-only volume the console-config container wrote, after it succeeded."
  }
  assert {
    condition = (
      jsondecode(aws_ecs_task_definition.app.container_definitions)[1].name == "console-config" &&
      !jsondecode(aws_ecs_task_definition.app.container_definitions)[1].essential &&
      jsondecode(aws_ecs_task_definition.app.container_definitions)[1].readonlyRootFilesystem &&
      jsondecode(aws_ecs_task_definition.app.container_definitions)[1].linuxParameters.capabilities.drop == ["ALL"] &&
      [for e in jsondecode(aws_ecs_task_definition.app.container_definitions)[1].environment : e.value if e.name == "ROSTER_CONSOLE_TOML"] == [output.console_config] &&
      length(jsondecode(aws_ecs_task_definition.app.container_definitions)) == 2
    )
    error_message = "Only the short-lived console-config container runs as root: not essential, no capabilities, read-only root, writing only the settings it is given."
  }
  assert {
    condition = (
      one([for a in aws_cognito_user_pool.this.schema : a if a.name == "roster_groups"]).mutable &&
      contains(aws_cognito_user_pool_client.alb.read_attributes, "custom:roster_groups") &&
      !contains(aws_cognito_user_pool_client.alb.write_attributes, "custom:roster_groups")
    )
    error_message = "custom:roster_groups exists, the ALB's client reads it and cannot write it (a user cannot grant themselves a role)."
  }
  assert {
    condition     = one([for a in aws_lb_listener.https.default_action : a.authenticate_cognito[0].scope if a.type == "authenticate-cognito"]) == "openid"
    error_message = "The ALB asks for openid only, so userinfo (and x-amzn-oidc-data) carries every readable attribute, custom:roster_groups included."
  }
}

run "console_roles_map_groups_to_tenants" {
  variables {
    console_roles = [
      { group = "roster-operators", role = "operator" },
      { group = "roster-acme-admins", tenant = "acme", role = "admin" },
    ]
  }
  assert {
    condition     = endswith(output.console_config, "[[console.roles]]\ngroup = \"roster-acme-admins\"\ntenant = \"acme\"\nrole = \"admin\"\n")
    error_message = "A tenant role is written with its tenant."
  }
}

run "rejects_an_operator_role_with_a_tenant" {
  command = plan
  variables {
    console_roles = [{ group = "roster-operators", tenant = "acme", role = "operator" }]
  }
  expect_failures = [var.console_roles]
}

run "rejects_a_group_name_with_a_comma" {
  command = plan
  variables {
    console_roles = [{ group = "a,b", role = "operator" }]
  }
  expect_failures = [var.console_roles]
}
