variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "name" {
  description = "Name of the environment, prefix of its resources (e.g. roster-prod)."
  type        = string
  default     = "roster"
}

variable "availability_zones" {
  description = "Two or more zones of the region."
  type        = list(string)
}

variable "lambda_package_dir" {
  description = "Folder scripts/package-lambdas wrote the deployment packages to: roster-lambda-{ingest,consumer,scheduler}/bootstrap.zip inside it. The default is the repository's target/lambda."
  type        = string
  default     = "../../../../target/lambda"
}

variable "lambda_packages" {
  description = "The packages as S3 objects instead, by function (ingest, consumer, scheduler): { s3_bucket, s3_key, s3_object_version or source_code_hash }. null: the zips under lambda_package_dir."
  type = map(object({
    filename          = optional(string)
    s3_bucket         = optional(string)
    s3_key            = optional(string)
    s3_object_version = optional(string)
    source_code_hash  = optional(string)
  }))
  default = null
  validation {
    condition     = var.lambda_packages == null || try(setintersection(toset(keys(var.lambda_packages)), ["ingest", "consumer", "scheduler"]) == toset(["ingest", "consumer", "scheduler"]), false)
    error_message = "lambda_packages must name the ingest, consumer and scheduler packages."
  }
}

variable "architecture" {
  description = "arm64 or x86_64: what the packages and the image were built for."
  type        = string
  default     = "arm64"
}

variable "image" {
  description = "Roster's container image for the console service (ECR URI with a tag or digest)."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ARN of the ECR repository of image."
  type        = string
  default     = null
}

variable "api_domain_name" {
  description = "Host name of the ingest API (e.g. feeds.example.com). null: the execute-api URL."
  type        = string
  default     = null
}

variable "console_domain_name" {
  description = "Host name of the admin console (e.g. roster.example.com)."
  type        = string
}

variable "zone_id" {
  description = "Route 53 hosted zone of the domain names."
  type        = string
}

variable "cognito_domain_prefix" {
  description = "Prefix of the Cognito sign-in domain (globally unique)."
  type        = string
}

variable "console_roles" {
  description = "The console's roles by group (admin_service's console_roles): a user's groups are their Cognito attribute custom:roster_groups."
  type = list(object({
    group  = string
    tenant = optional(string)
    role   = string
  }))
  default = [{ group = "roster-operators", role = "operator" }]
}

variable "alarm_email" {
  description = "Where alarms are e-mailed (null: subscribe something to the topic yourself)."
  type        = string
  default     = null
}

variable "max_receive_count" {
  description = "Receives before a message is dead-lettered (Roster's max_receive_count)."
  type        = number
  default     = 5
}

variable "consumer_timeout_seconds" {
  description = "Timeout of the consumer function; the queue's visibility timeout is 6 times it."
  type        = number
  default     = 60
}
