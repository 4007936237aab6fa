module "function" {
  source                   = "../lambda_function"
  name                     = "${var.name}-ingest"
  description              = "Roster: ingest and /v1 API behind API Gateway"
  package                  = var.package
  architecture             = var.architecture
  memory_mb                = var.memory_mb
  timeout_seconds          = var.timeout_seconds
  reserved_concurrency     = var.reserved_concurrency
  environment              = var.roster_environment
  database_password_secret = var.database_password_secret
  policy_jsons             = merge({ queue = var.queue_policy_json }, var.extra_policy_jsons)
  subnet_ids               = var.subnet_ids
  security_group_ids       = [var.security_group_id]
  kms_key_arn              = var.kms_key_arn
  log_retention_days       = var.log_retention_days
  tags                     = var.tags
}

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  protocol_type = "HTTP"
  # With a custom domain, clients use it only.
  disable_execute_api_endpoint = var.custom_domain != null
  tags                         = var.tags
}

resource "aws_apigatewayv2_integration" "function" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_uri        = module.function.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = var.timeout_seconds * 1000 + 1000 > 30000 ? 30000 : var.timeout_seconds * 1000 + 1000
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count            = var.jwt_authorizer == null ? 0 : 1
  api_id           = aws_apigatewayv2_api.this.id
  authorizer_type  = "JWT"
  name             = "jwt"
  identity_sources = ["$request.header.Authorization"]
  jwt_configuration {
    issuer   = var.jwt_authorizer.issuer
    audience = var.jwt_authorizer.audiences
  }
}

resource "aws_apigatewayv2_route" "this" {
  #checkov:skip=CKV_AWS_309:Roster authenticates every route but /healthz itself (API keys, JWTs of [[jwt_issuers]]); set jwt_authorizer to add API Gateway's
  for_each           = toset(var.routes)
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.function.id}"
  authorization_type = var.jwt_authorizer == null || contains(["GET /healthz", "GET /readyz"], each.value) ? "NONE" : "JWT"
  authorizer_id      = var.jwt_authorizer == null || contains(["GET /healthz", "GET /readyz"], each.value) ? null : aws_apigatewayv2_authorizer.jwt[0].id
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true
  default_route_settings {
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
  }
  # JSON access logs: ids and status only, no bodies or query strings.
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTimeEpoch"
      ip                 = "$context.identity.sourceIp"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
    })
  }
  tags = var.tags
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowApiGateway"
  action        = "lambda:InvokeFunction"
  function_name = module.function.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}

# --- Custom domain (optional) ---------------------------------------------

locals {
  domain   = var.custom_domain
  make_crt = local.domain != null && try(local.domain.certificate_arn == null, false)
}

resource "aws_acm_certificate" "this" {
  count             = local.make_crt ? 1 : 0
  domain_name       = local.domain.domain_name
  validation_method = "DNS"
  tags              = var.tags
  lifecycle {
    create_before_destroy = true
  }
}

# One name, one validation record: keyed by count, known at plan.
resource "aws_route53_record" "validation" {
  count           = local.make_crt ? 1 : 0
  zone_id         = local.domain.zone_id
  name            = tolist(aws_acm_certificate.this[0].domain_validation_options)[0].resource_record_name
  type            = tolist(aws_acm_certificate.this[0].domain_validation_options)[0].resource_record_type
  records         = [tolist(aws_acm_certificate.this[0].domain_validation_options)[0].resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count                   = local.make_crt ? 1 : 0
  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = aws_route53_record.validation[*].fqdn
}

resource "aws_apigatewayv2_domain_name" "this" {
  count       = local.domain == null ? 0 : 1
  domain_name = local.domain.domain_name
  domain_name_configuration {
    certificate_arn = local.make_crt ? aws_acm_certificate_validation.this[0].certificate_arn : local.domain.certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }
  tags = var.tags
}

resource "aws_apigatewayv2_api_mapping" "this" {
  count       = local.domain == null ? 0 : 1
  api_id      = aws_apigatewayv2_api.this.id
  domain_name = aws_apigatewayv2_domain_name.this[0].id
  stage       = aws_apigatewayv2_stage.default.id
}

resource "aws_route53_record" "api" {
  count   = local.domain == null ? 0 : 1
  zone_id = local.domain.zone_id
  name    = local.domain.domain_name
  type    = "A"
  alias {
    name                   = aws_apigatewayv2_domain_name.this[0].domain_name_configuration[0].target_domain_name
    zone_id                = aws_apigatewayv2_domain_name.this[0].domain_name_configuration[0].hosted_zone_id
    evaluate_target_health = false
  }
}
