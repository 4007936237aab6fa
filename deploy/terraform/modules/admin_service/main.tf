data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  region   = data.aws_region.current.name
  make_crt = var.certificate_arn == null
  cert     = local.make_crt ? aws_acm_certificate_validation.this[0].certificate_arn : var.certificate_arn
  environment = merge(
    {
      ROSTER_LISTEN = "0.0.0.0:${var.app_port}"
      # The ALB terminates TLS; plain HTTP reaches the task only from it.
      ROSTER_ALLOW_INSECURE_HTTP = "true"
      ROSTER_DATA_DIR            = "/var/lib/roster"
      # The ALB appends the client's address last: per-client budgets.
      ROSTER_CLIENT_IP_HEADER = "x-forwarded-for"
      # Nothing scrapes on ECS: the metrics go to CloudWatch as EMF lines.
      ROSTER_METRICS_FORMAT = "emf"
      # The [console] section (ALB mode), written by the console-config
      # container before roster starts.
      ROSTER_CONFIG = "${local.config_dir}/roster.toml"
    },
    var.roster_environment,
  )

  # The console in ALB mode (crates/roster-console): Roster trusts only the
  # x-amzn-oidc-data header signed by this load balancer, and maps the
  # user's groups — the Cognito attribute custom:roster_groups, a list in a
  # string, which the ALB passes on from the userinfo endpoint (Cognito's
  # userinfo has no cognito:groups) — to roles. TOML written with
  # jsonencode: a JSON string is a TOML basic string.
  config_dir       = "/etc/roster"
  groups_attribute = "roster_groups"
  console_toml = join("\n", concat(
    [
      "# Written by Terraform (deploy/terraform/modules/admin_service).",
      "[console]",
      "public_url = ${jsonencode("https://${var.domain_name}")}",
      "groups_claim = ${jsonencode("custom:${local.groups_attribute}")}",
      "",
      "[console.alb]",
      "signer_arn = ${jsonencode(aws_lb.this.arn)}",
      "region = ${jsonencode(local.region)}",
    ],
    flatten([for r in var.console_roles : concat(
      ["", "[[console.roles]]", "group = ${jsonencode(r.group)}"],
      r.tenant == null ? [] : ["tenant = ${jsonencode(r.tenant)}"],
      ["role = ${jsonencode(r.role)}"],
    )]),
    [""],
  ))
}

# --- Cognito: who may open the console -----------------------------------

resource "aws_cognito_user_pool" "this" {
  name                     = var.name
  deletion_protection      = "ACTIVE"
  mfa_configuration        = "ON"
  auto_verified_attributes = ["email"]
  username_attributes      = ["email"]
  software_token_mfa_configuration {
    enabled = true
  }
  admin_create_user_config {
    allow_admin_create_user_only = true # operators are invited, nobody signs up
  }
  password_policy {
    minimum_length                   = 14
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }
  user_pool_add_ons {
    advanced_security_mode = "ENFORCED"
  }
  # The console's groups of a user (e.g. "roster-operators,roster-acme-admins"),
  # set by an administrator: `aws cognito-idp admin-update-user-attributes
  # --user-attributes Name=custom:roster_groups,Value=...`. The ALB's app
  # client may read it and not write it.
  schema {
    name                     = local.groups_attribute
    attribute_data_type      = "String"
    mutable                  = true
    required                 = false
    developer_only_attribute = false
    string_attribute_constraints {
      min_length = 0
      max_length = 2048
    }
  }
  tags = var.tags
}

resource "aws_cognito_user_pool_domain" "this" {
  domain       = var.cognito_domain_prefix
  user_pool_id = aws_cognito_user_pool.this.id
}

resource "aws_cognito_user_pool_client" "alb" {
  name                                 = "${var.name}-alb"
  user_pool_id                         = aws_cognito_user_pool.this.id
  generate_secret                      = true
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = ["https://${var.domain_name}/oauth2/idpresponse"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true
  # What the ALB passes on (userinfo): the e-mail and the console's groups.
  # A user cannot give themselves groups through this client.
  read_attributes  = ["email", "email_verified", "custom:${local.groups_attribute}"]
  write_attributes = ["email"]
}

# --- Certificate and DNS -------------------------------------------------

resource "aws_acm_certificate" "this" {
  count             = local.make_crt ? 1 : 0
  domain_name       = var.domain_name
  validation_method = "DNS"
  tags              = var.tags
  lifecycle {
    create_before_destroy = true
  }
}

# One name, one validation record: keyed by count, known at plan.
resource "aws_route53_record" "validation" {
  count           = local.make_crt ? 1 : 0
  zone_id         = var.zone_id
  name            = tolist(aws_acm_certificate.this[0].domain_validation_options)[0].resource_record_name
  type            = tolist(aws_acm_certificate.this[0].domain_validation_options)[0].resource_record_type
  records         = [tolist(aws_acm_certificate.this[0].domain_validation_options)[0].resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count                   = local.make_crt ? 1 : 0
  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = aws_route53_record.validation[*].fqdn
}

resource "aws_route53_record" "console" {
  zone_id = var.zone_id
  name    = var.domain_name
  type    = "A"
  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}

# --- Load balancer --------------------------------------------------------

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:access logs need a bucket with an ELB-writable policy; set alb_access_logs_bucket to turn them on
  #checkov:skip=CKV2_AWS_28:WAF is the account's choice of rules and cost; set web_acl_arn to attach one
  #checkov:skip=CKV2_AWS_76:the web ACL, when attached (web_acl_arn), is the account's; its rules are not made here
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false #tfsec:ignore:aws-elb-alb-not-public the console is reached from operators' browsers; Cognito guards it
  subnets                    = var.public_subnet_ids
  security_groups            = [var.alb_security_group_id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  dynamic "access_logs" {
    for_each = var.alb_access_logs_bucket == null ? [] : [1]
    content {
      bucket  = var.alb_access_logs_bucket
      prefix  = var.name
      enabled = true
    }
  }
  tags = var.tags
}

resource "aws_wafv2_web_acl_association" "this" {
  count        = var.web_acl_arn == null ? 0 : 1
  resource_arn = aws_lb.this.arn
  web_acl_arn  = var.web_acl_arn
}

resource "aws_lb_target_group" "app" {
  name        = var.name
  port        = var.app_port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
  deregistration_delay = 30
  tags                 = var.tags
}

resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:this listener only redirects to HTTPS
  #checkov:skip=CKV_AWS_103:this listener only redirects to HTTPS
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"
  default_action {
    type = "redirect"
    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = local.cert
  # Every request is signed in through Cognito before it is forwarded; the
  # ALB then adds the signed x-amzn-oidc-data header the console verifies.
  default_action {
    type  = "authenticate-cognito"
    order = 1
    authenticate_cognito {
      user_pool_arn              = aws_cognito_user_pool.this.arn
      user_pool_client_id        = aws_cognito_user_pool_client.alb.id
      user_pool_domain           = aws_cognito_user_pool_domain.this.domain
      on_unauthenticated_request = "authenticate"
      session_timeout            = 28800
      # openid alone: userinfo returns every attribute the client may read,
      # custom:roster_groups included (openid email would leave it out).
      scope = "openid"
    }
  }
  default_action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.app.arn
  }
  tags = var.tags
}

# --- ECS -------------------------------------------------------------------

resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = var.tags
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# The execution role starts the task: pulls the image, writes logs,
# injects secrets. Roster itself runs as the task role.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrAuth"
    actions   = ["ecr:GetAuthorizationToken"] # no resource-level permission
    resources = ["*"]
  }
  dynamic "statement" {
    for_each = var.ecr_repository_arn == null ? [] : [1]
    content {
      sid       = "PullImage"
      actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
      resources = [var.ecr_repository_arn]
    }
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.app.arn}:*"]
  }
  dynamic "statement" {
    for_each = length(var.secret_arns) == 0 ? [] : [1]
    content {
      sid       = "InjectSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = var.secret_arns
    }
  }
  # A secret under a customer-managed key (the RDS master secret) cannot be
  # read without decrypting it; only through Secrets Manager.
  dynamic "statement" {
    for_each = length(var.secret_kms_key_arns) == 0 ? [] : [1]
    content {
      sid       = "DecryptInjectedSecrets"
      actions   = ["kms:Decrypt"]
      resources = var.secret_kms_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "task" {
  for_each = var.task_policy_jsons
  name     = each.key
  role     = aws_iam_role.task.id
  policy   = each.value
}

resource "aws_ecs_task_definition" "app" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory_mb
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "ARM64"
  }
  # Mounted at /var/lib/roster, a VOLUME of Roster's image owned by its
  # user (uid 10001): ECS gives the mount that ownership, not root's.
  volume {
    name = "data"
  }
  volume {
    name = "config"
  }
  container_definitions = jsonencode([
    {
      name                   = "roster"
      image                  = var.image
      command                = var.command
      essential              = true
      readonlyRootFilesystem = true
      user                   = "10001"
      portMappings           = [{ containerPort = var.app_port, protocol = "tcp" }]
      # The image's HEALTHCHECK, which ECS does not read (curl is in the image).
      healthCheck = {
        command     = ["CMD-SHELL", "curl -fsS http://127.0.0.1:${var.app_port}/healthz >/dev/null || exit 1"]
        interval    = 15
        timeout     = 3
        retries     = 3
        startPeriod = 20
      }
      environment = [for k, v in local.environment : { name = k, value = v }]
      secrets     = [for k, v in var.secrets : { name = k, valueFrom = v }]
      mountPoints = [
        { sourceVolume = "data", containerPath = "/var/lib/roster", readOnly = false },
        { sourceVolume = "config", containerPath = local.config_dir, readOnly = true },
      ]
      dependsOn = [{ containerName = "console-config", condition = "SUCCESS" }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.app.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "roster"
        }
      }
    },
    # Writes the console's settings (no secret in them) where roster reads
    # them (ROSTER_CONFIG), then exits. Root, with no capabilities, only to
    # write into the task's fresh volume, which Fargate makes root-owned;
    # roster reads it as uid 10001, read-only.
    {
      name                   = "console-config"
      image                  = var.image
      essential              = false
      readonlyRootFilesystem = true
      user                   = "0"
      entryPoint             = ["/bin/sh", "-c"]
      command                = ["umask 022 && printf '%s' \"$ROSTER_CONSOLE_TOML\" > ${local.config_dir}/roster.toml"]
      environment            = [{ name = "ROSTER_CONSOLE_TOML", value = local.console_toml }]
      mountPoints            = [{ sourceVolume = "config", containerPath = local.config_dir, readOnly = false }]
      linuxParameters        = { capabilities = { drop = ["ALL"] } }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.app.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "console-config"
        }
      }
    },
  ])
  tags = var.tags
}

resource "aws_ecs_service" "app" {
  name                   = var.name
  cluster                = aws_ecs_cluster.this.id
  task_definition        = aws_ecs_task_definition.app.arn
  desired_count          = var.desired_count
  launch_type            = "FARGATE"
  enable_execute_command = false
  propagate_tags         = "SERVICE"
  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [var.app_security_group_id]
    assign_public_ip = false
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.app.arn
    container_name   = "roster"
    container_port   = var.app_port
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  tags       = var.tags
  depends_on = [aws_lb_listener.https]
}
