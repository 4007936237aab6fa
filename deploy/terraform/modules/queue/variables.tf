variable "name" {
  description = "Base name: the queue is NAME.fifo, its dead-letter queue NAME-dlq.fifo (as `SqsQueue::create` names them)."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,71}$", var.name))
    error_message = "name must be 1-71 letters, digits, hyphens or underscores (room for -dlq.fifo within SQS's 80)."
  }
}

variable "max_receive_count" {
  description = "Receives before SQS moves a message to the DLQ: the redrive policy's maxReceiveCount. Give Roster the same number (`max_receive_count`, ROSTER_MAX_RECEIVE_COUNT); the `roster_environment` output does."
  type        = number
  default     = 5
  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number from 1 to 1000 (SQS's range)."
  }
}

variable "consumer_timeout_seconds" {
  description = "The consumer's longest run on one batch: the Lambda consumer's timeout, or Roster's visibility_timeout_secs for `roster worker`."
  type        = number
  default     = 60
  validation {
    condition     = var.consumer_timeout_seconds >= 1 && var.consumer_timeout_seconds <= 900
    error_message = "consumer_timeout_seconds must be from 1 to 900 (Lambda's longest timeout)."
  }
}

variable "visibility_timeout_seconds" {
  description = "The queue's visibility timeout. null: 6 x consumer_timeout_seconds, AWS's guidance for a Lambda event source (room for retries of a throttled batch)."
  type        = number
  default     = null
  validation {
    condition     = var.visibility_timeout_seconds == null || try(var.visibility_timeout_seconds >= 6 * var.consumer_timeout_seconds && var.visibility_timeout_seconds <= 43200, false)
    error_message = "visibility_timeout_seconds must be at least 6 x consumer_timeout_seconds and at most 43200 (12 h)."
  }
}

variable "message_retention_seconds" {
  description = "How long SQS keeps a message on the queue and on the DLQ. Roster assumes 14 days (it keeps applied-message ids 30 days)."
  type        = number
  default     = 1209600
  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "restrict_dlq_sources" {
  description = "A redrive allow policy: only this module's queue may use the DLQ. false only where it cannot be set (moto has no RedriveAllowPolicy)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "A customer-managed KMS key for SSE-KMS. null: SSE-SQS (SQS-managed keys, no KMS cost)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
