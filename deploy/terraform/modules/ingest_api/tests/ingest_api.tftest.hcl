# A mock AWS (tests/mocks, shared by the modules): nothing is created.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name               = "roster-test"
  package            = { s3_bucket = "artifacts", s3_key = "roster-lambda-ingest.zip" }
  roster_environment = { ROSTER_QUEUE = "sqs" }
  queue_policy_json  = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  subnet_ids         = ["subnet-a", "subnet-b"]
  security_group_id  = "sg-lambda"
  kms_key_arn        = "arn:aws:kms:eu-west-1:111122223333:key/test"
}

run "routes_throttling_and_json_access_logs" {
  assert {
    condition     = length(output.iam_statements) > 0 && alltrue([for s in output.iam_statements : !(contains(s.actions, "*") && contains(s.resources, "*"))])
    error_message = "No IAM statement allows every action on every resource."
  }
  assert {
    condition     = length(output.log_groups) > 0 && alltrue([for name, days in output.log_groups : days != null && days > 0])
    error_message = "Every log group this module makes has a retention."
  }
  assert {
    condition     = toset(keys(aws_apigatewayv2_route.this)) == toset(["POST /integrations/hr-feed", "ANY /v1/{proxy+}", "GET /healthz", "GET /readyz"])
    error_message = "The API must route exactly the paths Roster's router serves (crates/roster-server/src/routes): ingest (JSON, CSV and SCIM bodies), /v1 and the health checks."
  }
  assert {
    condition     = alltrue([for r in aws_apigatewayv2_route.this : r.target == "integrations/${aws_apigatewayv2_integration.function.id}"])
    error_message = "Every route goes to the ingest function's proxy integration."
  }
  assert {
    condition     = aws_apigatewayv2_integration.function.payload_format_version == "2.0" && aws_apigatewayv2_integration.function.integration_type == "AWS_PROXY"
    error_message = "A Lambda proxy integration with payload format 2.0."
  }
  assert {
    condition     = aws_apigatewayv2_stage.default.default_route_settings[0].throttling_rate_limit == 100 && aws_apigatewayv2_stage.default.default_route_settings[0].throttling_burst_limit == 200
    error_message = "The stage must throttle."
  }
  assert {
    condition     = can(jsondecode(aws_apigatewayv2_stage.default.access_log_settings[0].format).requestId) && aws_apigatewayv2_stage.default.access_log_settings[0].destination_arn == aws_cloudwatch_log_group.access.arn
    error_message = "Access logs must be JSON, in the access log group."
  }
  assert {
    condition     = aws_cloudwatch_log_group.access.retention_in_days == 365
    error_message = "The access log group must have a retention."
  }
  assert {
    condition     = aws_lambda_permission.api.source_arn == "arn:aws:execute-api:eu-west-1:111122223333:abc123/*/*" && aws_lambda_permission.api.principal == "apigateway.amazonaws.com"
    error_message = "Only this API may invoke the function."
  }
  assert {
    condition     = alltrue([for r in aws_apigatewayv2_route.this : r.authorization_type == "NONE"])
    error_message = "Without an authorizer Roster authenticates itself."
  }
}

run "jwt_authorizer_guards_every_route_but_health" {
  variables {
    jwt_authorizer = {
      issuer    = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_test"
      audiences = ["client-1"]
    }
  }
  assert {
    condition     = aws_apigatewayv2_route.this["POST /integrations/hr-feed"].authorization_type == "JWT" && aws_apigatewayv2_route.this["GET /healthz"].authorization_type == "NONE"
    error_message = "The JWT authorizer must guard ingest, not the health check."
  }
  assert {
    condition     = aws_apigatewayv2_authorizer.jwt[0].jwt_configuration[0].issuer == var.jwt_authorizer.issuer
    error_message = "The authorizer must trust the given issuer."
  }
}

run "custom_domain_gets_a_certificate_and_a_record" {
  variables {
    custom_domain = { domain_name = "feeds.example.com", zone_id = "Z123" }
  }
  assert {
    condition     = aws_acm_certificate.this[0].domain_name == "feeds.example.com" && aws_route53_record.api[0].name == "feeds.example.com"
    error_message = "A custom domain gets its certificate and alias record."
  }
  assert {
    condition     = aws_apigatewayv2_domain_name.this[0].domain_name_configuration[0].security_policy == "TLS_1_2" && aws_apigatewayv2_api.this.disable_execute_api_endpoint
    error_message = "TLS 1.2 on the domain; the execute-api endpoint is turned off."
  }
}

run "rejects_a_malformed_route" {
  command = plan
  variables {
    routes = ["/integrations/hr-feed"]
  }
  expect_failures = [var.routes]
}

run "rejects_an_http_issuer" {
  command = plan
  variables {
    jwt_authorizer = { issuer = "http://issuer.example.com", audiences = ["a"] }
  }
  expect_failures = [var.jwt_authorizer]
}

run "the_function_reads_the_database_password_from_its_secret_only" {
  variables {
    package = { filename = "../../tests/fixtures/lambda/roster-lambda-ingest/bootstrap.zip" }
    roster_environment = {
      ROSTER_QUEUE        = "sqs"
      ROSTER_STORE        = "postgres"
      ROSTER_DATABASE_URL = "postgres://roster@db.internal:5432/roster?sslmode=verify-full"
    }
    database_password_secret = {
      arn         = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-1234-AbCdEf"
      kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/db"
    }
  }
  assert {
    condition     = output.function_settings.ingest.environment["ROSTER_DATABASE_PASSWORD_SECRET_ARN"] == var.database_password_secret.arn
    error_message = "The ingest function is told the secret's ARN."
  }
  assert {
    condition = ([for s in jsondecode(output.function_settings.ingest.database_secret_policy_json).Statement : [s.Action, s.Resource]]
    == [["secretsmanager:GetSecretValue", var.database_password_secret.arn], ["kms:Decrypt", var.database_password_secret.kms_key_arn]])
    error_message = "Its role may read that one secret and decrypt its key, nothing more."
  }
}
