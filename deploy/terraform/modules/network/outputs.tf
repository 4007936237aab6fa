output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnets, one per zone: functions, tasks, RDS."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnets, one per zone: the ALB and NAT gateways."
  value       = aws_subnet.public[*].id
}

output "alb_security_group_id" {
  description = "Security group of the admin console's ALB."
  value       = aws_security_group.alb.id
}

output "app_security_group_id" {
  description = "Security group of the ECS tasks."
  value       = aws_security_group.app.id
}

output "lambda_security_group_id" {
  description = "Security group of the Lambda functions."
  value       = aws_security_group.lambda.id
}

output "database_security_group_id" {
  description = "Security group of RDS and RDS Proxy."
  value       = aws_security_group.database.id
}

output "nat_gateway_count" {
  description = "NAT gateways made (0 with nat_gateway = \"none\")."
  value       = local.nat_count
}

output "iam_statements" {
  description = "Every statement of the IAM and key policies this module writes, as { policy, effect, actions, resources }: for reviews and tests (none may allow every action on every resource)."
  value = flatten([for name, d in { flow = data.aws_iam_policy_document.flow, flow_assume = data.aws_iam_policy_document.flow_assume } : [for s in d.statement : {
    policy    = name
    effect    = coalesce(s.effect, "Allow")
    actions   = tolist(coalesce(s.actions, []))
    resources = tolist(coalesce(s.resources, []))
  }]])
}

output "log_groups" {
  description = "Every log group this module makes, name => retention in days: for reviews and tests (each has one)."
  value       = { (aws_cloudwatch_log_group.flow.name) = aws_cloudwatch_log_group.flow.retention_in_days }
}
