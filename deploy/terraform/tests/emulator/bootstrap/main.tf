# The emulator test's first step: the state bucket and lock table on moto,
# with local state (the chicken-and-egg every first deployment has).

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }
}

variable "endpoint" {
  description = "moto's URL."
  type        = string
}

variable "bucket_name" {
  description = "The state bucket."
  type        = string
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  endpoints {
    dynamodb = var.endpoint
    iam      = var.endpoint
    kms      = var.endpoint
    s3       = var.endpoint
    sts      = var.endpoint
  }
}

module "state_backend" {
  source                   = "../../../modules/state_backend"
  bucket_name              = var.bucket_name
  lock_table_name          = "${var.bucket_name}-locks"
  force_destroy            = true # the test removes it afterwards
  kms_deletion_window_days = 7
}

output "backend_config" {
  value = module.state_backend.backend_config
}
