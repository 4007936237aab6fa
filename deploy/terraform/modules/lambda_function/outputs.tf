output "function_name" {
  description = "The function's name."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "The function's ARN."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "ARN API Gateway integrations invoke."
  value       = aws_lambda_function.this.invoke_arn
}

output "role_name" {
  description = "The function's role."
  value       = aws_iam_role.this.name
}

output "role_arn" {
  description = "ARN of the function's role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "settings" {
  description = "What the function runs with, for reviews and tests: its package (file or S3 object, and hash), its environment (which holds no secret: the database password stays in Secrets Manager), the JSON policy that lets it read the database secret (null without one) and its role."
  value = {
    package = {
      filename         = aws_lambda_function.this.filename
      s3_bucket        = aws_lambda_function.this.s3_bucket
      s3_key           = aws_lambda_function.this.s3_key
      source_code_hash = aws_lambda_function.this.source_code_hash
    }
    environment                 = aws_lambda_function.this.environment[0].variables
    database_secret_policy_json = one(aws_iam_role_policy.database_secret[*].policy)
    role_name                   = aws_iam_role.this.name
  }
}

output "iam_statements" {
  description = "Every statement of the IAM and key policies this module writes, as { policy, effect, actions, resources }: for reviews and tests (none may allow every action on every resource)."
  value = concat(
    flatten([for name, d in { base = data.aws_iam_policy_document.base, assume = data.aws_iam_policy_document.assume } : [for s in d.statement : {
      policy    = name
      effect    = coalesce(s.effect, "Allow")
      actions   = tolist(coalesce(s.actions, []))
      resources = tolist(coalesce(s.resources, []))
    }]]),
    flatten([for p in aws_iam_role_policy.database_secret : [for s in jsondecode(p.policy).Statement : {
      policy    = "database_secret"
      effect    = s.Effect
      actions   = flatten([s.Action])
      resources = flatten([s.Resource])
    }]]),
  )
}

output "log_groups" {
  description = "Every log group this module makes, name => retention in days: for reviews and tests (each has one)."
  value       = { (aws_cloudwatch_log_group.this.name) = aws_cloudwatch_log_group.this.retention_in_days }
}
