# The operator API: an HTTP API of its own for operators and the status page.
# It serves the status page (HTML, script, style, its config) and /health to
# anyone: the page is static, signs in through Cognito's hosted UI
# (operators.tf) and then sends its access token. Everything else, the reads
# and the retry, needs that token: a JWT authorizer checks it (issuer: the
# operators' user pool; audience: the page's app client; scope: openid). The
# api function tells an operator's request (payload 2.0, with
# requestContext.authorizer.jwt.claims) from a client's (REST, with
# requestContext.identity.apiKeyId); the retry function records the token's
# subject in the transaction's history.
#
# Operators may also invoke the retry function directly with the admin role
# (IAM), `{"transaction_id": "..."}`.

locals {
  # "METHOD /path" => the function that serves it and who may call it:
  #   page     - the status page's files: anyone;
  #   public   - health checks and the OpenAPI document: anyone;
  #   operator - a Cognito access token (JWT authorizer).
  # tools/infra-check checks these against the routers, and that every route
  # but the page's, /health and /openapi.json has the JWT authorizer.
  operator_routes = {
    "GET /"                                   = { function = "api", access = "page" }
    "GET /ui/app.js"                          = { function = "api", access = "page" }
    "GET /ui/style.css"                       = { function = "api", access = "page" }
    "GET /ui/config.json"                     = { function = "api", access = "page" }
    "GET /health"                             = { function = "api", access = "public" }
    "GET /openapi.json"                       = { function = "api", access = "public" }
    "GET /transactions"                       = { function = "api", access = "operator" }
    "GET /transactions/{id}"                  = { function = "api", access = "operator" }
    "GET /transactions/stats"                 = { function = "api", access = "operator" }
    "GET /transactions/timeline"              = { function = "api", access = "operator" }
    "POST /admin/transactions/{id}/retry"     = { function = "retry", access = "operator" }
    "GET /transactions/{id}/deliveries"       = { function = "api", access = "operator" }
    "POST /admin/transactions/{id}/redeliver" = { function = "api", access = "operator" }
  }

  operator_functions = toset([for route in values(local.operator_routes) : route.function])

  # The page's origin is the API's own unless var.status_page_urls names
  # others: same-origin requests need no CORS, so none is configured then.
  status_page_origins = distinct([for url in var.status_page_urls : regex("^https?://[^/]+", url)])
}

resource "aws_apigatewayv2_api" "admin" {
  name          = "${local.prefix}-admin"
  protocol_type = "HTTP"
  description   = "${local.prefix} operator API and status page (Cognito-authorised)"

  # Only the origins the page is served from, never "*".
  dynamic "cors_configuration" {
    for_each = length(local.status_page_origins) > 0 ? [1] : []

    content {
      allow_origins = local.status_page_origins
      allow_methods = ["GET", "POST"]
      allow_headers = ["authorization", "content-type"]
      max_age       = 600
    }
  }
}

resource "aws_apigatewayv2_authorizer" "operators" {
  api_id           = aws_apigatewayv2_api.admin.id
  name             = "${local.prefix}-operators"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = local.operator_token_issuer
    audience = [aws_cognito_user_pool_client.status_page.id]
  }
}

resource "aws_apigatewayv2_integration" "operator" {
  for_each = local.operator_functions

  api_id                 = aws_apigatewayv2_api.admin.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.function[each.key].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 30000
}

# It was the API's only integration.
moved {
  from = aws_apigatewayv2_integration.retry
  to   = aws_apigatewayv2_integration.operator["retry"]
}

resource "aws_apigatewayv2_route" "admin" {
  for_each = local.operator_routes

  api_id               = aws_apigatewayv2_api.admin.id
  route_key            = each.key
  authorization_type   = each.value.access == "operator" ? "JWT" : "NONE"
  authorizer_id        = each.value.access == "operator" ? aws_apigatewayv2_authorizer.operators.id : null
  authorization_scopes = each.value.access == "operator" ? local.operator_token_scopes : null
  target               = "integrations/${aws_apigatewayv2_integration.operator[each.value.function].id}"
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
      operator         = "$context.authorizer.claims.sub"
      requestTime      = "$context.requestTime"
      routeKey         = "$context.routeKey"
      status           = "$context.status"
      authorizerError  = "$context.authorizer.error"
      integrationError = "$context.integrationErrorMessage"
    })
  }
}

# Each function may be invoked by this API for its own routes only.
resource "aws_lambda_permission" "admin_api" {
  statement_id  = "AllowAdminApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["retry"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.admin.execution_arn}/*/POST/admin/transactions/*"
}

resource "aws_lambda_permission" "operator_api_reads" {
  statement_id  = "AllowOperatorApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["api"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.admin.execution_arn}/*/GET/*"
}

# --- the admin role ---------------------------------------------------------------------

# For invoking the retry function directly with IAM credentials (the routes
# above take Cognito tokens, not SigV4).
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
  description          = "Operators of ${local.prefix}: retry failed transactions by invoking the retry function"
  assume_role_policy   = data.aws_iam_policy_document.admin_assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "admin" {
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
