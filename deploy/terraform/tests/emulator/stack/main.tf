# The emulator test's second step: the queue and the observability module
# on moto, with this configuration's state in the bucket step one made
# (remote state, locked by S3 conditional writes and DynamoDB).

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }
  # Everything else comes from -backend-config (emulator.sh writes it).
  backend "s3" {}
}

variable "endpoint" {
  description = "moto's URL."
  type        = string
}

variable "name" {
  description = "Prefix of the queue, topic and alarms."
  type        = string
}

variable "max_receive_count" {
  description = "The redrive policy's maxReceiveCount, also given to Roster."
  type        = number
  default     = 3
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    cloudwatch     = var.endpoint
    cloudwatchlogs = var.endpoint
    iam            = var.endpoint
    kms            = var.endpoint
    sns            = var.endpoint
    sqs            = var.endpoint
    sts            = var.endpoint
  }
}

module "queue" {
  source                   = "../../../modules/queue"
  name                     = var.name
  max_receive_count        = var.max_receive_count
  consumer_timeout_seconds = 5
  restrict_dlq_sources     = false # moto keeps no RedriveAllowPolicy (its waiter would never end)
}

module "observability" {
  source                   = "../../../modules/observability"
  name                     = var.name
  queue_name               = module.queue.queue_name
  dlq_name                 = module.queue.dlq_name
  log_groups               = { roster = "/roster/${var.name}" }
  lambda_function_names    = { consumer = "${var.name}-consumer" }
  kms_deletion_window_days = 7
}

output "queue_url" {
  value = module.queue.queue_url
}

output "dlq_url" {
  value = module.queue.dlq_url
}

output "roster_environment" {
  value = module.queue.roster_environment
}

output "alarm_topic_arn" {
  value = module.observability.alarm_topic_arn
}

output "alarm_names" {
  value = module.observability.alarm_names
}
