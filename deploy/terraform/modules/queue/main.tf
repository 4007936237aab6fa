locals {
  visibility_timeout = coalesce(var.visibility_timeout_seconds, 6 * var.consumer_timeout_seconds)
  kms                = var.kms_key_arn != null
}

resource "aws_sqs_queue" "dlq" {
  name                       = "${var.name}-dlq.fifo"
  fifo_queue                 = true
  message_retention_seconds  = var.message_retention_seconds
  visibility_timeout_seconds = local.visibility_timeout
  # Roster sends its own MessageDeduplicationId; a redrive copies it back.
  content_based_deduplication       = false
  sqs_managed_sse_enabled           = local.kms ? null : true
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = local.kms ? 300 : null
  tags                              = var.tags
}

resource "aws_sqs_queue" "main" {
  name                       = "${var.name}.fifo"
  fifo_queue                 = true
  message_retention_seconds  = var.message_retention_seconds
  visibility_timeout_seconds = local.visibility_timeout
  # Long polling: receives wait up to 20 s instead of spinning (Roster
  # long-polls too; this is the default for clients that do not say).
  receive_wait_time_seconds   = 20
  content_based_deduplication = false
  # High-throughput FIFO: ordering and dedup per person (message group).
  deduplication_scope               = "messageGroup"
  fifo_throughput_limit             = "perMessageGroupId"
  sqs_managed_sse_enabled           = local.kms ? null : true
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = local.kms ? 300 : null
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

# Only the main queue may use the DLQ as its dead-letter queue.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count     = var.restrict_dlq_sources ? 1 : 0
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.main.arn]
  })
}

data "aws_iam_policy_document" "tls_only" {
  for_each = { main = aws_sqs_queue.main.arn, dlq = aws_sqs_queue.dlq.arn }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "tls_only" {
  for_each  = { main = aws_sqs_queue.main.id, dlq = aws_sqs_queue.dlq.id }
  queue_url = each.value
  policy    = data.aws_iam_policy_document.tls_only[each.key].json
}

# What each role of Roster may do with the queues (attach to the roles of
# the ingest function, the consumer and the console).
data "aws_iam_policy_document" "send" {
  # Ingest: send, and read the depth for back-pressure (max_queue_depth)
  # and /readyz. It does not receive or delete.
  statement {
    sid       = "SendToQueue"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.main.arn]
  }
  statement {
    sid       = "ReadDlqDepth"
    actions   = ["sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.dlq.arn]
  }
  dynamic "statement" {
    for_each = local.kms ? [1] : []
    content {
      sid       = "EncryptMessages"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.kms_key_arn]
    }
  }
}

data "aws_iam_policy_document" "consume" {
  # Consumer: receive, delete and hide its queue's messages; move a poison
  # message to the DLQ itself (with its reason); read and redrive dead
  # letters (`roster dlq`).
  statement {
    sid = "ConsumeQueue"
    actions = [
      "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage",
    ]
    resources = [aws_sqs_queue.main.arn]
  }
  statement {
    sid = "DeadLetters"
    actions = [
      "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
    ]
    resources = [aws_sqs_queue.dlq.arn]
  }
  dynamic "statement" {
    for_each = local.kms ? [1] : []
    content {
      sid       = "EncryptMessages"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.kms_key_arn]
    }
  }
}
