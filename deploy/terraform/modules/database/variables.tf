variable "name" {
  description = "Identifier of the instance (and prefix of its parameter group, subnet group, proxy)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,50}$", var.name))
    error_message = "name must start with a lower-case letter and hold only lower-case letters, digits and hyphens (at most 51)."
  }
}

variable "subnet_ids" {
  description = "Private subnets in at least two zones (network module's private_subnet_ids)."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must list at least two subnets (a DB subnet group spans two zones)."
  }
}

variable "security_group_id" {
  description = "Security group of the database (network module's database_security_group_id)."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL major version (Roster's PostgreSQL directory targets 15 and later)."
  type        = string
  default     = "16"
  validation {
    condition     = can(regex("^(1[5-9])(\\.[0-9]+)?$", var.engine_version))
    error_message = "engine_version must be PostgreSQL 15 or later, e.g. \"16\" or \"16.4\"."
  }
}

variable "instance_class" {
  description = "Instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "allocated_storage_gb" {
  description = "Storage at creation, in GiB (gp3)."
  type        = number
  default     = 50
  validation {
    condition     = var.allocated_storage_gb >= 20
    error_message = "allocated_storage_gb must be at least 20 (gp3's smallest)."
  }
}

variable "max_allocated_storage_gb" {
  description = "Ceiling of storage autoscaling, in GiB."
  type        = number
  default     = 500
}

variable "database_name" {
  description = "The database Roster uses."
  type        = string
  default     = "roster"
}

variable "master_username" {
  description = "The master user; its password is made and rotated by RDS in Secrets Manager."
  type        = string
  default     = "roster_admin"
}

variable "multi_az" {
  description = "A standby in a second zone (automatic fail-over). Doubles the instance cost."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (turn off deliberately before a destroy)."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery."
  type        = number
  default     = 14
  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be from 7 to 35."
  }
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot. Keep false outside throwaway environments."
  type        = bool
  default     = false
}

variable "enable_proxy" {
  description = "An RDS Proxy in front of the instance, so many Lambda consumers share few connections."
  type        = bool
  default     = false
}

variable "ssl_root_cert" {
  description = "Path, as Roster's processes see it, of the RDS certificate bundle (AWS's global-bundle.pem) to verify the instance's certificate with: appended to database_url as sslrootcert. Needed without the proxy (RDS signs the instance's certificate with its own CA, which no built-in root store holds); the proxy's certificate is signed by Amazon's public CA. null: the built-in roots only."
  type        = string
  default     = null
  validation {
    condition     = var.ssl_root_cert == null || can(regex("^/[A-Za-z0-9._/-]+$", var.ssl_root_cert))
    error_message = "ssl_root_cert must be an absolute path of letters, digits, '.', '_', '-' and '/' (it goes into the URL as it is)."
  }
}

variable "kms_key_arn" {
  description = "KMS key of storage, snapshots, Performance Insights and the master secret. null: a key is made."
  type        = string
  default     = null
}

variable "manage_os_metrics_log_group" {
  description = "Make the region's RDSOSMetrics log group (where enhanced monitoring writes, shared by every instance of the account in the region) with log_retention_days. false: RDS makes it, without a retention, unless it exists; set true in one environment per region, or import it."
  type        = bool
  default     = false
}

variable "log_kms_key_arn" {
  description = "KMS key of the log groups (the exported logs and the proxy's), e.g. the observability module's kms_key_arn: its policy must let CloudWatch Logs use it. null: CloudWatch's default encryption."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the exported PostgreSQL logs (postgresql, upgrade) and of the proxy's, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
