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
  description = "Folder holding issue 17's deployment packages: roster-lambda-ingest.zip, roster-lambda-consumer.zip, roster-lambda-scheduler.zip."
  type        = string
  default     = "../../../../target/lambda"
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
