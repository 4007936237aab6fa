variable "region" {
  description = "AWS region."
  type        = string
}

variable "name" {
  description = "Prefix of the resources."
  type        = string
  default     = "roster"
}

variable "subnet_ids" {
  description = "Private subnets (two zones or more) of an existing VPC, with a route to the AWS APIs (NAT or endpoints)."
  type        = list(string)
}

variable "lambda_security_group_id" {
  description = "Security group of the consumer functions (egress to PostgreSQL and HTTPS)."
  type        = string
}

variable "database_security_group_id" {
  description = "Security group of the database (ingress 5432 from the functions' group)."
  type        = string
}

variable "lambda_package_dir" {
  description = "Folder scripts/package-lambdas wrote the deployment packages to: roster-lambda-consumer/bootstrap.zip and roster-lambda-scheduler/bootstrap.zip inside it. The default is the repository's target/lambda."
  type        = string
  default     = "../../../../target/lambda"
}

variable "architecture" {
  description = "arm64 or x86_64: what the packages were built for (scripts/package-lambdas builds arm64 unless told otherwise)."
  type        = string
  default     = "arm64"
}

variable "database_ssl_root_cert" {
  description = "Path, inside the functions, of the RDS certificate bundle the database's certificate is verified with (the database module's ssl_root_cert), e.g. /var/task/rds-global-bundle.pem, which `scripts/package-lambdas --rds-ca-bundle FILE` puts in each zip: this example connects to the instance itself, whose certificate RDS's own CA signs. null: the built-in roots only, which do not hold RDS's CA."
  type        = string
  default     = null
}
