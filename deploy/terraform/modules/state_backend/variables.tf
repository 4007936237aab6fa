variable "bucket_name" {
  description = "Name of the S3 bucket that holds Terraform state (globally unique)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of lower-case letters, digits, dots and hyphens."
  }
}

variable "lock_table_name" {
  description = "Name of the DynamoDB lock table (for the backend's `dynamodb_table`). null: no table, S3 native locking (`use_lockfile`) only."
  type        = string
  default     = "terraform-locks"
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten state version is kept before it expires."
  type        = number
  default     = 90
  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the state key is deleted after a destroy."
  type        = number
  default     = 30
  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a bucket that still holds state. Keep false outside tests."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
