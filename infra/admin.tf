# The admin API: an HTTP API of its own, every route behind IAM (SigV4).
# Operators call it with credentials of the admin role; the retry function
# reads the caller's ARN from the request context API Gateway passes on and
# records it in the transaction's history. The same role may also invoke the
# retry function directly (`{"transaction_id": "..."}`).

locals {
  # tools/infra-check checks that every one of these routes requires AWS_IAM.
  admin_routes = toset([
    "POST /admin/transactions/{id}/retry",
  ])
}

resource "aws_apigatewayv2_api" "admin" {
  name          = "${local.prefix}-admin"
  protocol_type = "HTTP"
  description   = "${local.prefix} operator API (IAM-authorised)"
}

resource "aws_apigatewayv2_integration" "retry" {
  api_id                 = aws_apigatewayv2_api.admin.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.function["retry"].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 30000
}

resource "aws_apigatewayv2_route" "admin" {
  for_each = local.admin_routes

  api_id             = aws_apigatewayv2_api.admin.id
  route_key          = each.value
  authorization_type = "AWS_IAM"
  target             = "integrations/${aws_apigatewayv2_integration.retry.id}"
}

resource "aws_cloudwatch_log_group" "admin_access" {
  name              = "/aws/apigateway/${local.prefix}-admin"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
}

resource "aws_apigatewayv2_stage" "admin" {
  api_id      = aws_apigatewayv2_api.admin.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit    = var.admin_throttling_rate_limit
    throttling_burst_limit   = ceil(var.admin_throttling_rate_limit * 2)
    detailed_metrics_enabled = true
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.admin_access.arn
    format = jsonencode({
      requestId        = "$context.requestId"
      ip               = "$context.identity.sourceIp"
      caller           = "$context.identity.userArn"
      requestTime      = "$context.requestTime"
      routeKey         = "$context.routeKey"
      status           = "$context.status"
      integrationError = "$context.integrationErrorMessage"
    })
  }
}

resource "aws_lambda_permission" "admin_api" {
  statement_id  = "AllowAdminApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["retry"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.admin.execution_arn}/*/POST/admin/transactions/*"
}

# --- the admin role ---------------------------------------------------------------------

data "aws_iam_policy_document" "admin_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = length(var.admin_principal_arns) > 0 ? var.admin_principal_arns : [local.account_root_arn]
    }
  }
}

resource "aws_iam_role" "admin" {
  name                 = "${local.prefix}-admin"
  description          = "Operators of ${local.prefix}: retry failed transactions"
  assume_role_policy   = data.aws_iam_policy_document.admin_assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "admin" {
  statement {
    sid       = "CallAdminRoutes"
    effect    = "Allow"
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_apigatewayv2_api.admin.execution_arn}/*/POST/admin/transactions/*"]
  }

  statement {
    sid       = "InvokeRetryDirectly"
    effect    = "Allow"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.function["retry"].arn]
  }
}

resource "aws_iam_role_policy" "admin" {
  name   = "${local.prefix}-admin"
  role   = aws_iam_role.admin.id
  policy = data.aws_iam_policy_document.admin.json
}
