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
  description = "The deployment package: a zip holding `bootstrap`, as scripts/package-lambdas writes it (target/lambda/NAME/bootstrap.zip). A local file ({ filename }; its hash is computed), or an object in S3 ({ s3_bucket, s3_key } with s3_object_version or source_code_hash, so that a new build under the same key is deployed)."
  type = object({
    filename          = optional(string)
    s3_bucket         = optional(string)
    s3_key            = optional(string)
    s3_object_version = optional(string)
    source_code_hash  = optional(string)
  })
  validation {
    condition     = (var.package.filename != null) != (var.package.s3_bucket != null && var.package.s3_key != null)
    error_message = "package must give either filename, or both s3_bucket and s3_key."
  }
  validation {
    condition     = var.package.filename == null || var.package.s3_object_version == null
    error_message = "package.s3_object_version belongs to an S3 object, not to a local filename."
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
  description = "Roster's ROSTER_* settings (the server's names). No secrets: the database password is read from Secrets Manager (database_password_secret). ROSTER_METRICS_FORMAT defaults to emf and ROSTER_DATABASE_POOL_SIZE to database_pool_size."
  type        = map(string)
  default     = {}
  validation {
    condition     = !anytrue([for k in keys(var.environment) : contains(["ROSTER_DATABASE_PASSWORD", "ROSTER_DATABASE_PASSWORD_FILE", "ROSTER_DATABASE_PASSWORD_SECRET_ARN"], k)])
    error_message = "environment must not carry the database password (it would sit in plain text in the function's configuration): give database_password_secret instead."
  }
  validation {
    condition     = !anytrue([for k, v in var.environment : k == "ROSTER_DATABASE_URL" && can(regex("^[a-z]+://[^/@:]*:[^/@]*@", v))])
    error_message = "ROSTER_DATABASE_URL must not carry a password (postgres://USER@HOST/...): give database_password_secret instead."
  }
}

variable "database_password_secret" {
  description = "The Secrets Manager secret holding the database password (its SecretString is the password, or JSON with a `password` key as RDS keeps its master secret), and the KMS key it is encrypted with (null: AWS's own key). The function gets its ARN as ROSTER_DATABASE_PASSWORD_SECRET_ARN and reads it at cold start; its role may read that secret only. null: no database password (SQLite, or IAM authentication)."
  type = object({
    arn         = string
    kms_key_arn = optional(string)
  })
  default = null
}

variable "database_pool_size" {
  description = "PostgreSQL connections one instance of the function holds (ROSTER_DATABASE_POOL_SIZE): an instance serves one invocation at a time."
  type        = number
  default     = 2
  validation {
    condition     = var.database_pool_size >= 1
    error_message = "database_pool_size must be at least 1."
  }
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
