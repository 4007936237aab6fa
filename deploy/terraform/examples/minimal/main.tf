# The smallest AWS shape: the queue, the consumer functions and the
# database, in an existing VPC. Feeds reach the queue from `roster serve
# --workers 0 --queue sqs` wherever it runs.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

# Encrypts the functions' settings and log groups.
resource "aws_kms_key" "this" {
  description         = "${var.name}: function settings and logs"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.key.json
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:a key policy's resource "*" is the key itself; the account-root statement is AWS's default key policy
  #checkov:skip=CKV_AWS_356:a key policy's resource "*" is the key itself
  #checkov:skip=CKV_AWS_109:a key policy's resource "*" is the key itself; IAM policies of the account decide who uses it
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogsEncrypt"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
    # Only for this account's log groups in this region.
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:*"]
    }
  }
}

module "queue" {
  source                   = "../../modules/queue"
  name                     = var.name
  consumer_timeout_seconds = 60
}

module "database" {
  source            = "../../modules/database"
  name              = var.name
  subnet_ids        = var.subnet_ids
  security_group_id = var.database_security_group_id
  instance_class    = "db.t4g.small"
  ssl_root_cert     = var.database_ssl_root_cert
  # multi_az stays on (the default): a standby halves nothing but the cost of
  # losing a zone; a throwaway environment may set it false.
}

module "consumer" {
  source                           = "../../modules/consumer"
  name                             = var.name
  consumer_package                 = { filename = "${var.lambda_package_dir}/roster-lambda-consumer/bootstrap.zip" }
  scheduler_package                = { filename = "${var.lambda_package_dir}/roster-lambda-scheduler/bootstrap.zip" }
  architecture                     = var.architecture
  queue_arn                        = module.queue.queue_arn
  queue_visibility_timeout_seconds = module.queue.visibility_timeout_seconds
  queue_policy_json                = module.queue.consume_policy_json
  consumer_timeout_seconds         = 60
  # The URL carries no password: the functions read it from the RDS-managed
  # master secret at cold start.
  roster_environment = merge(module.queue.roster_environment, {
    ROSTER_STORE        = "postgres"
    ROSTER_DATABASE_URL = module.database.database_url
  })
  database_password_secret = module.database.password_secret
  subnet_ids               = var.subnet_ids
  security_group_id        = var.lambda_security_group_id
  kms_key_arn              = aws_kms_key.this.arn
}
