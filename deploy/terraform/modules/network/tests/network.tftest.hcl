# A mock AWS: nothing is created. Values the provider would compute are
# given where its own validation wants an ARN; policy documents are real
# JSON to the resources that take them, and the assertions read their
# statements.
mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "111122223333"
    }
  }
  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000"
    }
  }
  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:eu-west-1:111122223333:roster-test-alarms"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::111122223333:role/roster-test"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:111122223333:log-group:roster-test"
    }
  }
  mock_resource "aws_lambda_function" {
    defaults = {
      arn        = "arn:aws:lambda:eu-west-1:111122223333:function:roster-test"
      invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:111122223333:function:roster-test/invocations"
    }
  }
  mock_resource "aws_apigatewayv2_api" {
    defaults = {
      execution_arn = "arn:aws:execute-api:eu-west-1:111122223333:abc123"
    }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/roster-test/0123456789abcdef"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/roster-test/0123456789abcdef"
    }
  }
  mock_resource "aws_cognito_user_pool" {
    defaults = {
      arn = "arn:aws:cognito-idp:eu-west-1:111122223333:userpool/eu-west-1_test"
    }
  }
  mock_resource "aws_acm_certificate" {
    defaults = {
      arn = "arn:aws:acm:eu-west-1:111122223333:certificate/test"
    }
  }
  mock_resource "aws_acm_certificate_validation" {
    defaults = {
      certificate_arn = "arn:aws:acm:eu-west-1:111122223333:certificate/test"
    }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = {
      arn = "arn:aws:ecs:eu-west-1:111122223333:task-definition/roster-test:1"
    }
  }
}

override_resource {
  target = aws_security_group.alb
  values = { id = "sg-alb" }
}
override_resource {
  target = aws_security_group.app
  values = { id = "sg-app" }
}
override_resource {
  target = aws_security_group.lambda
  values = { id = "sg-lambda" }
}
override_resource {
  target = aws_security_group.database
  values = { id = "sg-database" }
}

variables {
  name               = "roster-test"
  availability_zones = ["eu-west-1a", "eu-west-1b"]
}

run "subnets_span_zones_and_only_the_flows_that_exist_are_open" {
  assert {
    condition     = length(aws_subnet.private) == 2 && toset(aws_subnet.private[*].availability_zone) == toset(var.availability_zones)
    error_message = "One private subnet per zone, in at least two zones."
  }
  assert {
    condition     = alltrue([for s in aws_subnet.public : !s.map_public_ip_on_launch])
    error_message = "Nothing in the public subnets gets a public address by itself."
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.database : r.referenced_security_group_id]) == toset(["sg-app", "sg-lambda"]) && alltrue([for r in aws_vpc_security_group_ingress_rule.database : r.from_port == 5432 && r.cidr_ipv4 == null])
    error_message = "PostgreSQL is reachable only from the tasks and the functions."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.app_from_alb.referenced_security_group_id == "sg-alb" && aws_vpc_security_group_ingress_rule.app_from_alb.from_port == 8080
    error_message = "The tasks are reachable only from the ALB, on the app port."
  }
  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group must allow nothing."
  }
  assert {
    condition     = contains(keys(aws_vpc_endpoint.interface), "sqs") && contains(keys(aws_vpc_endpoint.interface), "secretsmanager") && alltrue([for e in aws_vpc_endpoint.interface : e.private_dns_enabled])
    error_message = "AWS APIs are reached through interface endpoints with private DNS."
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_route.private_nat) == 2
    error_message = "One NAT gateway by default, routed from every private subnet."
  }
  assert {
    condition     = aws_flow_log.this.traffic_type == "ALL" && aws_cloudwatch_log_group.flow.retention_in_days == 365
    error_message = "Flow logs of all traffic, kept with a retention."
  }
}

run "no_nat_means_no_internet_route" {
  variables {
    nat_gateway = "none"
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 0 && length(aws_route.private_nat) == 0
    error_message = "nat_gateway = none: no NAT and no default route from the private subnets."
  }
}

run "rejects_one_zone" {
  command = plan
  variables {
    availability_zones = ["eu-west-1a"]
  }
  expect_failures = [var.availability_zones]
}

run "rejects_unknown_nat_mode" {
  command = plan
  variables {
    nat_gateway = "two"
  }
  expect_failures = [var.nat_gateway]
}
