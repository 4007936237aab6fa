terraform {
  required_version = ">= 1.10" # use_lockfile (S3 native locking) came in 1.10
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }

  # Remote state in the bucket the state_backend module made (see
  # ../../README.md, "Bootstrapping the state"). The rest of the settings
  # (bucket, key, region, kms_key_id) come from a file:
  #   terraform init -backend-config=backend.hcl
  backend "s3" {
    encrypt = true
    # S3 native locking (Terraform >= 1.10): a NAME.tflock object written
    # with a conditional put beside the state. The newer mechanism; needs
    # nothing but the bucket.
    use_lockfile = true
    # DynamoDB locking: a row per state in the lock table. Deprecated in
    # Terraform 1.11 but still what older Terraform honours; with both set,
    # a run takes both locks, so teams can move to use_lockfile without a
    # window where two runs could both write. Drop this line when every
    # user runs >= 1.10.
    dynamodb_table = "terraform-locks"
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { Application = "roster", Environment = var.name }
  }
}
