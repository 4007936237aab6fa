# A mock AWS (tests/mocks, shared by the modules): nothing is created.
mock_provider "aws" {
  source = "../../tests/mocks"
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
    condition     = length(output.iam_statements) > 0 && alltrue([for s in output.iam_statements : !(contains(s.actions, "*") && contains(s.resources, "*"))])
    error_message = "No IAM statement allows every action on every resource."
  }
  assert {
    condition     = length(output.log_groups) > 0 && alltrue([for name, days in output.log_groups : days != null && days > 0])
    error_message = "Every log group this module makes has a retention."
  }
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
