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
  description = "Folder holding roster-lambda-consumer.zip and roster-lambda-scheduler.zip (issue 17)."
  type        = string
  default     = "../../../../target/lambda"
}
