# One Roster function: its role (nothing but what it is given), log group
# with retention, and the function in the VPC. Used by ingest_api and
# consumer; not meant to be called from a root module.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  arn_prefix = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  secret     = var.database_password_secret
  # What every Roster function runs with, under the caller's settings; the
  # secret's ARN (never its value) last, so nothing overrides it.
  environment = merge(
    {
      # Nothing scrapes a function: metrics leave as EMF lines in its logs.
      ROSTER_METRICS_FORMAT = "emf"
      # One invocation at a time per instance: a couple of connections each
      # (MaximumConcurrency and the reserved concurrency bound the instances).
      ROSTER_DATABASE_POOL_SIZE = tostring(var.database_pool_size)
    },
    var.environment,
    local.secret == null ? {} : { ROSTER_DATABASE_PASSWORD_SECRET_ARN = local.secret.arn },
  )
  # The S3 object's hash when given (S3 keys are often reused across
  # versions); a local file's is computed, so a rebuilt zip is redeployed.
  source_code_hash = var.package.source_code_hash != null ? var.package.source_code_hash : (
    var.package.filename == null ? null : filebase64sha256(var.package.filename)
  )
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "base" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
  statement {
    sid       = "DecryptOwnEnvironment"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
  # A function in a VPC manages its network interfaces (what the managed
  # AWSLambdaVPCAccessExecutionRole grants, narrowed to these subnets and
  # groups where EC2 allows it).
  statement {
    sid = "VpcNetworkInterfaces"
    actions = [
      "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
    ]
    resources = concat(
      ["${local.arn_prefix}:network-interface/*"],
      [for s in var.subnet_ids : "${local.arn_prefix}:subnet/${s}"],
      [for g in var.security_group_ids : "${local.arn_prefix}:security-group/${g}"],
    )
  }
  statement {
    sid = "DescribeNetwork"
    # Describe calls have no resource-level permissions in EC2.
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"]
    resources = ["*"]
  }
  statement {
    sid = "Tracing"
    # X-Ray's Put calls have no resource-level permissions.
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "base" {
  name   = "base"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.base.json
}

# Read the database password at cold start: that one secret, and its key
# only through Secrets Manager. jsonencode rather than a policy document:
# the secret's ARN is often unknown until the database exists.
resource "aws_iam_role_policy" "database_secret" {
  count = local.secret == null ? 0 : 1
  name  = "database-secret"
  role  = aws_iam_role.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{ Sid = "ReadDatabasePassword", Effect = "Allow", Action = "secretsmanager:GetSecretValue", Resource = local.secret.arn }],
      local.secret.kms_key_arn == null ? [] : [{
        Sid       = "DecryptDatabasePassword"
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = local.secret.kms_key_arn
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${data.aws_region.current.name}.amazonaws.com" } }
      }],
    )
  })
}

resource "aws_iam_role_policy" "extra" {
  for_each = var.policy_jsons
  name     = each.key
  role     = aws_iam_role.this.id
  policy   = each.value
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:no asynchronous invocation to catch: API Gateway calls synchronously, SQS and EventBridge Scheduler keep their own retries and DLQs
  #checkov:skip=CKV_AWS_272:code signing needs a signing profile the account sets up; the package comes from the project's own build
  function_name = var.name
  description   = var.description
  role          = aws_iam_role.this.arn
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.architecture]
  memory_size   = var.memory_mb
  timeout       = var.timeout_seconds

  filename          = var.package.filename
  s3_bucket         = var.package.s3_bucket
  s3_key            = var.package.s3_key
  s3_object_version = var.package.s3_object_version
  source_code_hash  = local.source_code_hash

  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = local.environment
  }
  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }
  tracing_config {
    mode = "Active"
  }
  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.this.name
  }
  tags = var.tags

  depends_on = [aws_iam_role_policy.base, aws_iam_role_policy.database_secret, aws_iam_role_policy.extra]
}
