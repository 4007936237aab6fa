# Every module wired into one environment: API Gateway -> ingest Lambda ->
# SQS FIFO -> consumer Lambda -> RDS PostgreSQL, the console on ECS behind
# an ALB with Cognito, and CloudWatch alarms -> SNS.

locals {
  # scripts/package-lambdas writes target/lambda/NAME/bootstrap.zip; or
  # lambda_packages names objects in S3.
  packages = var.lambda_packages != null ? var.lambda_packages : {
    for f in ["ingest", "consumer", "scheduler"] : f => { filename = "${var.lambda_package_dir}/roster-lambda-${f}/bootstrap.zip" }
  }
  # The directory: PostgreSQL. The URL carries no password: it is the
  # RDS-managed master secret's. The functions read it by ARN at cold start
  # (database_password_secret); the service has it injected by ECS.
  store_environment = {
    ROSTER_STORE        = "postgres"
    ROSTER_DATABASE_URL = module.database.database_url
  }
  roster_environment = merge(module.queue.roster_environment, local.store_environment)
}

module "network" {
  source             = "../../modules/network"
  name               = var.name
  availability_zones = var.availability_zones
  kms_key_arn        = module.observability.kms_key_arn
}

module "queue" {
  source                   = "../../modules/queue"
  name                     = var.name
  max_receive_count        = var.max_receive_count
  consumer_timeout_seconds = var.consumer_timeout_seconds
}

module "database" {
  source            = "../../modules/database"
  name              = var.name
  subnet_ids        = module.network.private_subnet_ids
  security_group_id = module.network.database_security_group_id
  enable_proxy      = true # many consumer invocations, few connections
  log_kms_key_arn   = module.observability.kms_key_arn
}

module "ingest_api" {
  source                   = "../../modules/ingest_api"
  name                     = var.name
  package                  = local.packages.ingest
  architecture             = var.architecture
  roster_environment       = local.roster_environment
  database_password_secret = module.database.password_secret
  queue_policy_json        = module.queue.send_policy_json
  subnet_ids               = module.network.private_subnet_ids
  security_group_id        = module.network.lambda_security_group_id
  kms_key_arn              = module.observability.kms_key_arn
  custom_domain            = var.api_domain_name == null ? null : { domain_name = var.api_domain_name, zone_id = var.zone_id }
}

module "consumer" {
  source                           = "../../modules/consumer"
  name                             = var.name
  consumer_package                 = local.packages.consumer
  scheduler_package                = local.packages.scheduler
  architecture                     = var.architecture
  queue_arn                        = module.queue.queue_arn
  queue_visibility_timeout_seconds = module.queue.visibility_timeout_seconds
  queue_policy_json                = module.queue.consume_policy_json
  consumer_timeout_seconds         = var.consumer_timeout_seconds
  roster_environment               = local.roster_environment
  database_password_secret         = module.database.password_secret
  extra_policy_jsons               = { alarms = module.observability.publish_policy_json }
  subnet_ids                       = module.network.private_subnet_ids
  security_group_id                = module.network.lambda_security_group_id
  kms_key_arn                      = module.observability.kms_key_arn
}

module "admin_service" {
  source                = "../../modules/admin_service"
  name                  = var.name
  image                 = var.image
  ecr_repository_arn    = var.ecr_repository_arn
  roster_environment    = local.roster_environment
  secrets               = { ROSTER_DATABASE_PASSWORD = "${module.database.master_secret_arn}:password::" }
  secret_arns           = [module.database.master_secret_arn]
  secret_kms_key_arns   = [module.database.kms_key_arn]
  task_policy_jsons     = { queue = module.queue.consume_policy_json, alarms = module.observability.publish_policy_json }
  vpc_id                = module.network.vpc_id
  private_subnet_ids    = module.network.private_subnet_ids
  public_subnet_ids     = module.network.public_subnet_ids
  alb_security_group_id = module.network.alb_security_group_id
  app_security_group_id = module.network.app_security_group_id
  domain_name           = var.console_domain_name
  zone_id               = var.zone_id
  cognito_domain_prefix = var.cognito_domain_prefix
  console_roles         = var.console_roles
  kms_key_arn           = module.observability.kms_key_arn
}

module "observability" {
  source      = "../../modules/observability"
  name        = var.name
  alarm_email = var.alarm_email
  queue_name  = module.queue.queue_name
  dlq_name    = module.queue.dlq_name
  lambda_function_names = merge(
    module.consumer.function_names,
    { ingest = module.ingest_api.function_name },
  )
}
