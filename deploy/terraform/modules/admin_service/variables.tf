variable "name" {
  description = "Prefix of the cluster, service, ALB, user pool."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,23}$", var.name))
    error_message = "name must start with a lower-case letter and be at most 24 lower-case letters, digits and hyphens (ALB and target group names are short)."
  }
}

variable "image" {
  description = "Container image of Roster (issue 17's Dockerfile), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/roster:1.4.0. Pin a tag or digest."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ARN of the ECR repository of `image`, which the task execution role may pull from. null: the image is elsewhere."
  type        = string
  default     = null
}

variable "command" {
  description = "The container's command. The console and API node: serve without workers (workers run as Lambda)."
  type        = list(string)
  default     = ["serve", "--workers", "0"]
}

variable "desired_count" {
  description = "Tasks running."
  type        = number
  default     = 2
}

variable "cpu" {
  description = "Task CPU units."
  type        = number
  default     = 512
}

variable "memory_mb" {
  description = "Task memory."
  type        = number
  default     = 1024
}

variable "app_port" {
  description = "The port roster serve listens on in the container."
  type        = number
  default     = 8080
}

variable "roster_environment" {
  description = "ROSTER_* settings of the task: the queue module's roster_environment merged with the store's."
  type        = map(string)
}

variable "secrets" {
  description = "Environment variables taken from Secrets Manager at start, name => secret ARN (or ARN:json-key::), e.g. the database password."
  type        = map(string)
  default     = {}
}

variable "task_policy_jsons" {
  description = "IAM policies of the task role by name (what Roster may do): the queue's consume_policy_json, the secret's, SNS publish."
  type        = map(string)
  default     = {}
}

variable "secret_arns" {
  description = "Secrets the task execution role may read to inject `secrets` (ARNs without a JSON key)."
  type        = list(string)
  default     = []
}

variable "secret_kms_key_arns" {
  description = "Customer-managed KMS keys of those secrets (the database module's kms_key_arn): the execution role may decrypt with them through Secrets Manager only."
  type        = list(string)
  default     = []
}

variable "vpc_id" {
  description = "The VPC (network module)."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Subnets of the ALB."
  type        = list(string)
}

variable "alb_security_group_id" {
  description = "Security group of the ALB."
  type        = string
}

variable "app_security_group_id" {
  description = "Security group of the tasks."
  type        = string
}

variable "console_roles" {
  description = "The console's [[console.roles]]: members of `group` (listed in the user's custom:roster_groups attribute) get `role` (viewer or admin, in `tenant`) or platform `operator` (no tenant)."
  type = list(object({
    group  = string
    tenant = optional(string)
    role   = string
  }))
  default = [{ group = "roster-operators", role = "operator" }]
  validation {
    condition = alltrue([for r in var.console_roles :
      contains(["viewer", "admin", "operator"], r.role) && (r.role == "operator") == (r.tenant == null)
    ])
    error_message = "Each console role must be viewer or admin with a tenant, or operator without one."
  }
  validation {
    condition     = alltrue([for r in var.console_roles : can(regex("^[^,\\s]+$", r.group))])
    error_message = "A console group name holds no comma or space (custom:roster_groups lists groups separated by them)."
  }
}

variable "domain_name" {
  description = "The console's host name, e.g. roster.example.com."
  type        = string
}

variable "zone_id" {
  description = "Route 53 hosted zone of domain_name."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of domain_name. null: one is made and validated in the zone."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  validation {
    # TLS13-1-0 and TLS13-1-1 also offer TLS 1.3, but let TLS 1.0/1.1 in.
    condition     = can(regex("^ELBSecurityPolicy-(TLS13-1-[23]|FS-1-2|TLS-1-2)-", var.ssl_policy))
    error_message = "ssl_policy must allow nothing older than TLS 1.2 (ELBSecurityPolicy-TLS13-1-2-..., -TLS13-1-3-..., -FS-1-2-..., -TLS-1-2-...)."
  }
}

variable "cognito_domain_prefix" {
  description = "Prefix of the user pool's hosted sign-in domain (NAME.auth.REGION.amazoncognito.com); globally unique."
  type        = string
}

variable "alb_access_logs_bucket" {
  description = "S3 bucket for the ALB's access logs. null: none."
  type        = string
  default     = null
}

variable "web_acl_arn" {
  description = "A WAFv2 web ACL to associate with the ALB. null: none."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Refuse to delete the ALB."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Key of the task's log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the service's log group, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
