variable "name" {
  description = "Name of the API and prefix of the function (NAME-ingest)."
  type        = string
}

variable "package" {
  description = "Deployment package of roster-lambda-ingest: { filename = \"target/lambda/roster-lambda-ingest/bootstrap.zip\" } as scripts/package-lambdas writes it, or { s3_bucket, s3_key, s3_object_version or source_code_hash }."
  type = object({
    filename          = optional(string)
    s3_bucket         = optional(string)
    s3_key            = optional(string)
    s3_object_version = optional(string)
    source_code_hash  = optional(string)
  })
}

variable "architecture" {
  description = "arm64 or x86_64: the one the package was built for."
  type        = string
  default     = "arm64"
}

variable "routes" {
  description = "Routes Roster serves through the API (the ingest function's router answers them). SCIM is a body format of POST /integrations/hr-feed (application/scim+json), not a path of its own; /metrics is left out (a function publishes EMF, nothing scrapes it)."
  type        = list(string)
  default = [
    "POST /integrations/hr-feed",
    "ANY /v1/{proxy+}",
    "GET /healthz",
    "GET /readyz",
  ]
  validation {
    condition     = alltrue([for r in var.routes : can(regex("^(ANY|GET|POST|PUT|PATCH|DELETE) /", r))])
    error_message = "Each route must be \"METHOD /path\", e.g. \"POST /integrations/hr-feed\"."
  }
}

variable "roster_environment" {
  description = "ROSTER_* settings of the function (the server's names): the queue module's roster_environment merged with the store's (ROSTER_STORE = \"postgres\", ROSTER_DATABASE_URL without a password). No secrets: see database_password_secret."
  type        = map(string)
}

variable "database_password_secret" {
  description = "The database password's Secrets Manager secret (the database module's master_secret_arn) and its KMS key (kms_key_arn; null: AWS's own key). The function get the ARN as ROSTER_DATABASE_PASSWORD_SECRET_ARN and read the password at cold start; each role may read that secret only. null: no password (SQLite, IAM authentication)."
  type = object({
    arn         = string
    kms_key_arn = optional(string)
  })
  default = null
}

variable "queue_policy_json" {
  description = "What the function may do with the queue (queue module's send_policy_json: send, not receive or delete)."
  type        = string
}

variable "extra_policy_jsons" {
  description = "Further IAM policies by name (the database secret has its own variable, database_password_secret)."
  type        = map(string)
  default     = {}
}

variable "timeout_seconds" {
  description = "Function timeout; API Gateway gives up after 30 s."
  type        = number
  default     = 29
  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 30
    error_message = "timeout_seconds must be from 1 to 30 (API Gateway's integration timeout)."
  }
}

variable "memory_mb" {
  description = "Memory of the function (parsing a 10 MB CSV wants some)."
  type        = number
  default     = 1024
}

variable "reserved_concurrency" {
  description = "Concurrency reserved for the ingest function."
  type        = number
  default     = 50
}

variable "throttling_rate_limit" {
  description = "Steady requests per second the API accepts (then 429)."
  type        = number
  default     = 100
}

variable "throttling_burst_limit" {
  description = "Burst of requests the API accepts."
  type        = number
  default     = 200
}

variable "jwt_authorizer" {
  description = "A JWT authorizer (e.g. a Cognito user pool for machine-to-machine clients) in front of every route. null: none, Roster authenticates itself (API keys, [[jwt_issuers]])."
  type = object({
    issuer    = string
    audiences = list(string)
  })
  default = null
  validation {
    condition     = var.jwt_authorizer == null || startswith(try(var.jwt_authorizer.issuer, ""), "https://")
    error_message = "jwt_authorizer.issuer must be an https URL, e.g. https://cognito-idp.<region>.amazonaws.com/<pool id>."
  }
}

variable "custom_domain" {
  description = "A custom domain: its name, the Route 53 hosted zone, and an ACM certificate ARN (null: a certificate is made and validated in that zone)."
  type = object({
    domain_name     = string
    zone_id         = string
    certificate_arn = optional(string)
  })
  default = null
}

variable "subnet_ids" {
  description = "Private subnets of the function."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the function (network module's lambda_security_group_id)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key of the function's environment and of the log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the function's and the access logs' groups, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
