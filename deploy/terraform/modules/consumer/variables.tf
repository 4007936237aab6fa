variable "name" {
  description = "Prefix of the functions: NAME-consumer and NAME-scheduler."
  type        = string
}

variable "consumer_package" {
  description = "Deployment package of roster-lambda-consumer: { filename = \"target/lambda/roster-lambda-consumer/bootstrap.zip\" } as scripts/package-lambdas writes it, or { s3_bucket, s3_key, s3_object_version or source_code_hash }."
  type = object({
    filename          = optional(string)
    s3_bucket         = optional(string)
    s3_key            = optional(string)
    s3_object_version = optional(string)
    source_code_hash  = optional(string)
  })
}

variable "scheduler_package" {
  description = "Deployment package of roster-lambda-scheduler: { filename = \"target/lambda/roster-lambda-scheduler/bootstrap.zip\" } as scripts/package-lambdas writes it, or { s3_bucket, s3_key, s3_object_version or source_code_hash }."
  type = object({
    filename          = optional(string)
    s3_bucket         = optional(string)
    s3_key            = optional(string)
    s3_object_version = optional(string)
    source_code_hash  = optional(string)
  })
}

variable "architecture" {
  description = "arm64 or x86_64: the one the packages were built for."
  type        = string
  default     = "arm64"
}

variable "queue_arn" {
  description = "The FIFO queue (queue module's queue_arn)."
  type        = string
}

variable "queue_visibility_timeout_seconds" {
  description = "The queue's visibility timeout (queue module's visibility_timeout_seconds): checked to be at least 6 x consumer_timeout_seconds."
  type        = number
}

variable "queue_policy_json" {
  description = "What the functions may do with the queues (queue module's consume_policy_json)."
  type        = string
}

variable "roster_environment" {
  description = "ROSTER_* settings common to the functions (the server's names): the queue module's roster_environment merged with the store's (ROSTER_STORE = \"postgres\", ROSTER_DATABASE_URL without a password). No secrets: see database_password_secret."
  type        = map(string)
}

variable "database_password_secret" {
  description = "The database password's Secrets Manager secret (the database module's master_secret_arn) and its KMS key (kms_key_arn; null: AWS's own key). The functions get the ARN as ROSTER_DATABASE_PASSWORD_SECRET_ARN and read the password at cold start; each role may read that secret only. null: no password (SQLite, IAM authentication)."
  type = object({
    arn         = string
    kms_key_arn = optional(string)
  })
  default = null
}

variable "extra_policy_jsons" {
  description = "Further IAM policies of both functions by name, e.g. observability's publish_policy_json (the database secret has its own variable)."
  type        = map(string)
  default     = {}
}

variable "consumer_timeout_seconds" {
  description = "Timeout of the consumer function (one batch)."
  type        = number
  default     = 60
  validation {
    condition     = var.consumer_timeout_seconds >= 1 && var.consumer_timeout_seconds <= 900
    error_message = "consumer_timeout_seconds must be from 1 to 900."
  }
}

variable "consumer_memory_mb" {
  description = "Memory of the consumer function."
  type        = number
  default     = 512
}

variable "batch_size" {
  description = "Messages per invocation (a FIFO source takes at most 10)."
  type        = number
  default     = 10
  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10
    error_message = "batch_size must be from 1 to 10 (SQS FIFO's limit for an event source mapping)."
  }
}

variable "maximum_concurrency" {
  description = "Most consumer invocations at once (the event source's MaximumConcurrency): bounds PostgreSQL connections."
  type        = number
  default     = 5
  validation {
    condition     = var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000
    error_message = "maximum_concurrency must be from 2 to 1000 (Lambda's range)."
  }
}

variable "reserved_concurrency" {
  description = "Concurrency reserved for the consumer; at least maximum_concurrency."
  type        = number
  default     = 5
  validation {
    condition     = var.reserved_concurrency >= var.maximum_concurrency
    error_message = "reserved_concurrency must be at least maximum_concurrency, or the event source is throttled."
  }
}

variable "schedule_expression" {
  description = "When the scheduler function runs (due hires and terminations, stalled uploads, outbox, alarms)."
  type        = string
  default     = "rate(1 minute)"
  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be a rate(...) or cron(...) expression."
  }
}

variable "scheduler_timeout_seconds" {
  description = "Timeout of the scheduler function."
  type        = number
  default     = 55
}

variable "subnet_ids" {
  description = "Private subnets of the functions."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the functions (network module's lambda_security_group_id)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key of the functions' environment and log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
