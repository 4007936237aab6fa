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
