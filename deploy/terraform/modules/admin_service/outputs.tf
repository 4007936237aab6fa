output "url" {
  description = "The console."
  value       = "https://${var.domain_name}/"
}

output "alb_arn" {
  description = "The load balancer: the signer of x-amzn-oidc-data the console verifies."
  value       = aws_lb.this.arn
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "user_pool_id" {
  description = "The Cognito user pool of the console's operators (invite them with `aws cognito-idp admin-create-user`)."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_issuer" {
  description = "The user pool's issuer URL."
  value       = "https://cognito-idp.${local.region}.amazonaws.com/${aws_cognito_user_pool.this.id}"
}

output "alb_client_id" {
  description = "The ALB's app client."
  value       = aws_cognito_user_pool_client.alb.id
}

output "oidc_verification" {
  description = "What the console needs to verify the ALB's x-amzn-oidc-data header: its signer (the ALB ARN), the region of the public keys, the issuer and client."
  value = {
    signer     = aws_lb.this.arn
    key_url    = "https://public-keys.auth.elb.${local.region}.amazonaws.com/"
    issuer     = "https://cognito-idp.${local.region}.amazonaws.com/${aws_cognito_user_pool.this.id}"
    client_id  = aws_cognito_user_pool_client.alb.id
    header     = "x-amzn-oidc-data"
    expect_alg = "ES256"
  }
}

output "console_config" {
  description = "The [console] section (ALB mode) the task runs with, as TOML: the public URL, groups_claim = \"custom:roster_groups\", [console.alb] with this ALB as the signer, and console_roles."
  value       = local.console_toml
}

output "task_role_arn" {
  description = "Role Roster runs as in the task."
  value       = aws_iam_role.task.arn
}

output "cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "The ECS service."
  value       = aws_ecs_service.app.name
}

output "log_group_name" {
  description = "The service's log group."
  value       = aws_cloudwatch_log_group.app.name
}

output "migrate_command" {
  description = "An AWS CLI command that runs `roster migrate` once as a task of this service's task definition (its image, database settings and injected password, in the private subnets): the deploy step before new code."
  value = join(" ", [
    "aws ecs run-task --launch-type FARGATE",
    "--cluster ${aws_ecs_cluster.this.name}",
    "--task-definition ${aws_ecs_task_definition.app.family}",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", var.private_subnet_ids)}],securityGroups=[${var.app_security_group_id}],assignPublicIp=DISABLED}'",
    "--overrides '{\"containerOverrides\":[{\"name\":\"roster\",\"command\":[\"migrate\"]}]}'",
  ])
}

output "iam_statements" {
  description = "Every statement of the IAM and key policies this module writes, as { policy, effect, actions, resources }: for reviews and tests (none may allow every action on every resource)."
  value = flatten([for name, d in { execution = data.aws_iam_policy_document.execution, tasks_assume = data.aws_iam_policy_document.tasks_assume } : [for s in d.statement : {
    policy    = name
    effect    = coalesce(s.effect, "Allow")
    actions   = tolist(coalesce(s.actions, []))
    resources = tolist(coalesce(s.resources, []))
  }]])
}

output "log_groups" {
  description = "Every log group this module makes, name => retention in days: for reviews and tests (each has one)."
  value       = { (aws_cloudwatch_log_group.app.name) = aws_cloudwatch_log_group.app.retention_in_days }
}

output "listeners" {
  description = "The ALB's listeners, by key (http, https): port, protocol, TLS policy and their actions in order ({ type, order }), for reviews and tests (every forward comes after an authenticate action)."
  value = { for k, l in { http = aws_lb_listener.http, https = aws_lb_listener.https } : k => {
    port       = l.port
    protocol   = l.protocol
    ssl_policy = l.ssl_policy
    actions    = [for a in l.default_action : { type = a.type, order = a.order }]
  } }
}
