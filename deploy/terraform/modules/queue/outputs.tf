output "queue_url" {
  description = "URL of the FIFO queue: Roster's sqs_queue_url."
  value       = aws_sqs_queue.main.url
}

output "queue_arn" {
  description = "ARN of the FIFO queue (the consumer's event source)."
  value       = aws_sqs_queue.main.arn
}

output "queue_name" {
  description = "Name of the FIFO queue (the CloudWatch QueueName dimension)."
  value       = aws_sqs_queue.main.name
}

output "dlq_url" {
  description = "URL of the FIFO dead-letter queue: Roster's sqs_dlq_url."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue (the CloudWatch QueueName dimension)."
  value       = aws_sqs_queue.dlq.name
}

output "max_receive_count" {
  description = "The redrive policy's maxReceiveCount."
  value       = var.max_receive_count
}

output "visibility_timeout_seconds" {
  description = "The queue's visibility timeout."
  value       = local.visibility_timeout
}

output "roster_environment" {
  description = "Roster's settings for these queues, as ROSTER_* environment variables (for a task definition or a function)."
  value = {
    ROSTER_QUEUE             = "sqs"
    ROSTER_SQS_QUEUE_URL     = aws_sqs_queue.main.url
    ROSTER_SQS_DLQ_URL       = aws_sqs_queue.dlq.url
    ROSTER_MAX_RECEIVE_COUNT = tostring(var.max_receive_count)
  }
}

output "send_policy_json" {
  description = "IAM policy for a role that only enqueues (the ingest function)."
  value       = data.aws_iam_policy_document.send.json
}

output "consume_policy_json" {
  description = "IAM policy for a role that consumes and handles dead letters (the consumer, scheduler and console)."
  value       = data.aws_iam_policy_document.consume.json
}

output "queues" {
  description = "Every queue this module made, by key (main, dlq): ARN, URL, whether it is a dead-letter queue, and its redrive policy (decoded; null for the DLQ) — for reviews and tests of the environments that use it."
  value = {
    for k, q in { main  = aws_sqs_queue.main, dlq = aws_sqs_queue.dlq } : k => {
      arn               = q.arn
      url               = q.url
      dead_letter_queue = k == "dlq"
      redrive_policy    = can(jsondecode(q.redrive_policy).deadLetterTargetArn) ? jsondecode(q.redrive_policy) : null
    }
  }
}

output "iam_statements" {
  description = "Every statement of the IAM and key policies this module writes, as { policy, effect, actions, resources }: for reviews and tests (none may allow every action on every resource)."
  value = flatten([for name, d in { send = data.aws_iam_policy_document.send, consume = data.aws_iam_policy_document.consume, tls_only_main = data.aws_iam_policy_document.tls_only["main"], tls_only_dlq = data.aws_iam_policy_document.tls_only["dlq"] } : [for s in d.statement : {
    policy    = name
    effect    = coalesce(s.effect, "Allow")
    actions   = tolist(coalesce(s.actions, []))
    resources = tolist(coalesce(s.resources, []))
  }]])
}
