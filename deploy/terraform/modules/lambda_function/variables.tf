variable "name" {
  description = "Function name (also its role's and log group's)."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.name))
    error_message = "name must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "description" {
  description = "What the function does."
  type        = string
}

variable "package" {
  description = "The deployment package (a zip with `bootstrap`, built by issue 17's packaging command): a local file, or an object in S3."
  type = object({
    filename  = optional(string)
    s3_bucket = optional(string)
    s3_key    = optional(string)
  })
  validation {
    condition     = (var.package.filename != null) != (var.package.s3_bucket != null && var.package.s3_key != null)
    error_message = "package must give either filename, or both s3_bucket and s3_key."
  }
}

variable "architecture" {
  description = "arm64 (cheaper per GB-second) or x86_64: the one the package was built for."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_mb" {
  description = "Memory (and so CPU) of the function."
  type        = number
  default     = 512
}

variable "timeout_seconds" {
  description = "Longest run of one invocation."
  type        = number
  default     = 30
  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be from 1 to 900."
  }
}

variable "reserved_concurrency" {
  description = "Concurrent executions reserved for (and at most allowed to) this function."
  type        = number
}

variable "environment" {
  description = "Environment variables (Roster's ROSTER_* settings). No secrets: the function reads those from Secrets Manager."
  type        = map(string)
  default     = {}
}

variable "policy_jsons" {
  description = "IAM policy documents the function's role gets, by name (what it may do besides logging)."
  type        = map(string)
  default     = {}
}

variable "subnet_ids" {
  description = "Private subnets the function runs in (it reaches PostgreSQL there)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the function."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Key that encrypts the function's environment and its log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the function's log group, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
