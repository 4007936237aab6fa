variable "name" {
  description = "Prefix of every resource's Name tag."
  type        = string
}

variable "cidr_block" {
  description = "The VPC's IPv4 range."
  type        = string
  default     = "10.40.0.0/16"
  validation {
    condition     = can(cidrnetmask(var.cidr_block))
    error_message = "cidr_block must be an IPv4 CIDR block such as 10.40.0.0/16."
  }
}

variable "availability_zones" {
  description = "At least two availability zones (e.g. [\"eu-west-1a\", \"eu-west-1b\"]); one private and one public subnet in each."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "availability_zones must name at least two zones (RDS Multi-AZ and the ALB need two)."
  }
}

variable "nat_gateway" {
  description = "Internet egress of the private subnets: \"single\" (one NAT gateway), \"per_az\" (one per zone, survives a zone's loss) or \"none\" (AWS APIs through the VPC endpoints only; webhook endpoints and HRIS pulls on the internet are then unreachable)."
  type        = string
  default     = "single"
  validation {
    condition     = contains(["single", "per_az", "none"], var.nat_gateway)
    error_message = "nat_gateway must be \"single\", \"per_az\" or \"none\"."
  }
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints from the private subnets (no NAT traffic, no internet path)."
  type        = list(string)
  default     = ["sqs", "sns", "logs", "secretsmanager", "ecr.api", "ecr.dkr", "kms", "monitoring"]
}

variable "alb_ingress_cidrs" {
  description = "Who may reach the load balancer on 443 (and 80, which redirects)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "app_port" {
  description = "The port `roster serve` listens on in its container."
  type        = number
  default     = 8080
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow logs, in days."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key of the flow log group (the observability module's key). null: CloudWatch's default encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
