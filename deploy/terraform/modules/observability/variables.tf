variable "name" {
  description = "Prefix of the topic, alarms, dashboard and log groups."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,200}$", var.name))
    error_message = "name must be letters, digits, hyphens or underscores."
  }
}

variable "alarm_email" {
  description = "An address subscribed to the alarm topic (it must confirm the subscription). null: none."
  type        = string
  default     = null
  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address."
  }
}

variable "queue_name" {
  description = "Name of Roster's FIFO queue (queue module's queue_name)."
  type        = string
}

variable "dlq_name" {
  description = "Name of the dead-letter queue (queue module's dlq_name)."
  type        = string
}

variable "oldest_message_age_threshold_seconds" {
  description = "Alarm when the oldest message of the queue is older than this (Roster's own rule says 300)."
  type        = number
  default     = 300
  validation {
    condition     = var.oldest_message_age_threshold_seconds > 0
    error_message = "oldest_message_age_threshold_seconds must be positive."
  }
}

variable "log_groups" {
  description = "Log groups to create, by key (e.g. ingest = \"/aws/lambda/roster-ingest\"): one per function and service, each with log_retention_days."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of every log group, in days (one of CloudWatch's values)."
  type        = number
  default     = 365
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' retention values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ... 3653)."
  }
}

variable "lambda_function_names" {
  description = "Functions whose Errors and Throttles raise an alarm, by key (e.g. consumer = \"roster-consumer\")."
  type        = map(string)
  default     = {}
}

variable "emf_namespace" {
  description = "CloudWatch namespace of Roster's embedded metrics (EMF). null: no alarms on them."
  type        = string
  default     = "Roster"
}

variable "emf_alarms" {
  description = "Alarms on Roster's EMF metrics (metrics_format = \"emf\"): metric name, dimensions, statistic, threshold (alarm when above). Names are the Prometheus names without roster_ and _total in UpperCamelCase; labels are dimensions in UpperCamelCase, and a metric labelled by tenant is also published without it (the platform's total)."
  type = map(object({
    metric_name = string
    dimensions  = optional(map(string), {})
    statistic   = optional(string, "Maximum")
    threshold   = optional(number, 0)
    period      = optional(number, 60)
  }))
  default = {
    halted_feeds   = { metric_name = "Feeds", dimensions = { Status = "halted" } }
    failed_records = { metric_name = "MessagesDeadLettered", statistic = "Sum" }
    outbox_backlog = { metric_name = "OutboxBacklog", threshold = 10000, period = 300 }
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the topic's and logs' key is deleted after a destroy."
  type        = number
  default     = 30
  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
