# The status page's live feed: a WebSocket API whose $connect and $disconnect
# go to the notifier, which keeps the connections in the table and pushes each
# change from the table's stream to them (POST @connections/{id}).
#
# $connect needs an operator's Cognito access token: a browser can't send
# headers on a WebSocket handshake, so the page sends it as ?token=<access
# token>. A Lambda REQUEST authorizer checks it before the connection is
# accepted; the notifier is that authorizer too (it tells an authorizer event,
# `"type": "REQUEST"` with a `methodArn`, from a route event), checking the
# token against COGNITO_ISSUER's keys and COGNITO_CLIENT_ID. WebSocket
# authorizers cache nothing: every connection is checked. $disconnect can't
# carry authorization, and only ends a connection that was authorized.
# The stage's throttling bounds what a caller can start. Connections last at
# most 2 hours (10 minutes idle): the page reconnects, with a fresh token.

locals {
  websocket_stage = "live"

  # Where the notifier posts to connections: the https management endpoint
  # of the stage (the browser uses the wss:// one).
  websocket_management_endpoint = "https://${aws_apigatewayv2_api.websocket.id}.execute-api.${local.region}.amazonaws.com/${local.websocket_stage}"
}

resource "aws_apigatewayv2_api" "websocket" {
  name                       = "${local.prefix}-live"
  protocol_type              = "WEBSOCKET"
  description                = "${local.prefix} status page live updates"
  route_selection_expression = "$request.body.action"
}

resource "aws_apigatewayv2_integration" "notifier" {
  api_id             = aws_apigatewayv2_api.websocket.id
  integration_type   = "AWS_PROXY"
  integration_method = "POST"
  integration_uri    = aws_lambda_function.function["notifier"].invoke_arn
}

resource "aws_apigatewayv2_authorizer" "websocket_token" {
  api_id           = aws_apigatewayv2_api.websocket.id
  name             = "${local.prefix}-live-token"
  authorizer_type  = "REQUEST"
  authorizer_uri   = aws_lambda_function.function["notifier"].invoke_arn
  identity_sources = ["route.request.querystring.token"]
}

# route => authorization: only $connect can have any.
resource "aws_apigatewayv2_route" "websocket" {
  for_each = {
    "$connect"    = "CUSTOM"
    "$disconnect" = "NONE"
  }

  api_id             = aws_apigatewayv2_api.websocket.id
  route_key          = each.key
  authorization_type = each.value
  authorizer_id      = each.value == "CUSTOM" ? aws_apigatewayv2_authorizer.websocket_token.id : null
  target             = "integrations/${aws_apigatewayv2_integration.notifier.id}"
}

resource "aws_cloudwatch_log_group" "websocket_access" {
  name              = "/aws/apigateway/${local.prefix}-live"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
}

resource "aws_apigatewayv2_stage" "websocket" {
  api_id      = aws_apigatewayv2_api.websocket.id
  name        = local.websocket_stage
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.websocket_throttling_rate_limit
    throttling_burst_limit = ceil(var.websocket_throttling_rate_limit * 2)
    logging_level          = "ERROR"
    data_trace_enabled     = false
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.websocket_access.arn
    format = jsonencode({
      requestId    = "$context.requestId"
      ip           = "$context.identity.sourceIp"
      connectionId = "$context.connectionId"
      eventType    = "$context.eventType"
      routeKey     = "$context.routeKey"
      operator     = "$context.authorizer.principalId"
      authorizer   = "$context.authorizer.error"
      requestTime  = "$context.requestTime"
      status       = "$context.status"
      error        = "$context.error.message"
    })
  }

  # WebSocket APIs log through the account's API Gateway role.
  depends_on = [aws_api_gateway_account.this]
}

resource "aws_lambda_permission" "websocket" {
  statement_id  = "AllowWebSocketApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["notifier"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.websocket.execution_arn}/${local.websocket_stage}/*"
}

resource "aws_lambda_permission" "websocket_authorizer" {
  statement_id  = "AllowWebSocketAuthorizerInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["notifier"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.websocket.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.websocket_token.id}"
}
