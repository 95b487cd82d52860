# The client API: an API Gateway REST API in front of the api function, for
# client services. Operators and the status page use the operator API
# (admin.tf) instead.
#
# Why REST and not an HTTP API: per-client rate limiting. REST APIs have API
# keys with usage plans (a rate, a burst and a quota per client) and can sit
# behind a WAF web ACL (a per-IP rate limit, managed rules); HTTP APIs have
# neither, only route-level throttling shared by every caller. The api function
# serves both event formats (lambda_http), so nothing changes in the code.
#
# Limits, from the outside in:
# 1. WAF (waf.tf): each source IP, every route.
# 2. Stage throttling: all clients together (api_throttling_*).
# 3. Usage plans: each client's API key (api_clients), on every route but
#    GET /health and GET /openapi.json. The api reads the key's id from the request context
#    (requestContext.identity.apiKeyId) and shows a client only its own
#    transactions.
#
# One method per route, so unknown paths are refused at the edge (404 in the
# API's own error shape, below).

locals {
  api_stage = "v1"

  # "METHOD /path" => who may call it:
  #   public - health checks and the API's OpenAPI document: no key;
  #   client - an API key (x-api-key): everything else.
  # tools/infra-check checks these against the api's router, and that only
  # GET /health and GET /openapi.json are public.
  api_routes = {
    "GET /health"                       = "public"
    "GET /openapi.json"                 = "public"
    "GET /transactions"                 = "client"
    "GET /transactions/{id}"            = "client"
    "GET /transactions/stats"           = "client"
    "POST /transaction/broadcast"       = "client"
    "GET /transactions/{id}/deliveries" = "client"
    "POST /webhooks"                    = "client"
    "GET /webhooks"                     = "client"
    "DELETE /webhooks/{id}"             = "client"
    "POST /webhooks/{id}/rotate"        = "client"
  }

  api_route_settings = {
    for route, access in local.api_routes : route => {
      method           = split(" ", route)[0]
      path             = trimprefix(split(" ", route)[1], "/")
      api_key_required = access != "public"
    }
  }

  # The REST API's resource tree, one level at a time ("" is the root).
  api_paths        = toset([for r in values(local.api_route_settings) : r.path if r.path != ""])
  api_parent_paths = toset([for p in local.api_paths : split("/", p)[0] if length(split("/", p)) > 1])
  api_top_paths    = setunion(toset([for p in local.api_paths : p if length(split("/", p)) == 1]), local.api_parent_paths)
  api_leaf_paths   = setunion(toset([for p in local.api_paths : p if length(split("/", p)) == 2]), local.api_deep_parents)
  api_deep_paths   = toset([for p in local.api_paths : p if length(split("/", p)) == 3])
  api_deep_parents = toset([for p in local.api_deep_paths : join("/", slice(split("/", p), 0, 2))])

  api_resource_ids = merge(
    { "" = aws_api_gateway_rest_api.client.root_resource_id },
    { for path, resource in aws_api_gateway_resource.top : path => resource.id },
    { for path, resource in aws_api_gateway_resource.leaf : path => resource.id },
    { for path, resource in aws_api_gateway_resource.deep : path => resource.id },
  )
}

resource "aws_api_gateway_rest_api" "client" {
  name        = "${local.prefix}-api"
  description = "${local.prefix} transaction API"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = alltrue([for p in local.api_paths : length(split("/", p)) <= 3])
      error_message = "api_routes paths may be at most three segments deep (see api.tf)."
    }
  }
}

resource "aws_api_gateway_resource" "top" {
  for_each = local.api_top_paths

  rest_api_id = aws_api_gateway_rest_api.client.id
  parent_id   = aws_api_gateway_rest_api.client.root_resource_id
  path_part   = each.key
}

resource "aws_api_gateway_resource" "leaf" {
  for_each = local.api_leaf_paths

  rest_api_id = aws_api_gateway_rest_api.client.id
  parent_id   = aws_api_gateway_resource.top[split("/", each.key)[0]].id
  path_part   = split("/", each.key)[1]
}

resource "aws_api_gateway_resource" "deep" {
  for_each = local.api_deep_paths

  rest_api_id = aws_api_gateway_rest_api.client.id
  parent_id   = aws_api_gateway_resource.leaf[join("/", slice(split("/", each.key), 0, 2))].id
  path_part   = split("/", each.key)[2]
}

# Checks only that path parameters are present; bodies are validated by the
# api, which answers with its own precise error codes.
resource "aws_api_gateway_request_validator" "parameters" {
  rest_api_id                 = aws_api_gateway_rest_api.client.id
  name                        = "parameters"
  validate_request_parameters = true
  validate_request_body       = false
}

resource "aws_api_gateway_method" "route" {
  for_each = local.api_route_settings

  rest_api_id          = aws_api_gateway_rest_api.client.id
  resource_id          = local.api_resource_ids[each.value.path]
  http_method          = each.value.method
  authorization        = "NONE"
  api_key_required     = each.value.api_key_required
  request_validator_id = aws_api_gateway_request_validator.parameters.id
  request_parameters = {
    for name in regexall("\\{([a-z_]+)\\}", each.value.path) : "method.request.path.${name[0]}" => true
  }
}

resource "aws_api_gateway_integration" "route" {
  for_each = local.api_route_settings

  rest_api_id             = aws_api_gateway_rest_api.client.id
  resource_id             = aws_api_gateway_method.route[each.key].resource_id
  http_method             = aws_api_gateway_method.route[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_function.function["api"].invoke_arn
  timeout_milliseconds    = 29000
}

# What API Gateway itself answers, in the API's error shape
# ({"error": {"code", "message"}}) instead of its own {"message": ...}.
locals {
  gateway_responses = {
    # An unknown path or method.
    MISSING_AUTHENTICATION_TOKEN = { status = "404", code = "not_found", message = "no such route" }
    # No key, or a key that is not one of this API's.
    INVALID_API_KEY = { status = "403", code = "invalid_api_key", message = "this route needs a valid x-api-key header" }
    THROTTLED       = { status = "429", code = "rate_limited", message = "too many requests; retry later" }
    QUOTA_EXCEEDED  = { status = "429", code = "quota_exceeded", message = "this API key's quota is used up" }
    WAF_FILTERED    = { status = "403", code = "forbidden", message = "request refused" }
    DEFAULT_5XX     = { status = null, code = "service_unavailable", message = "the service is unavailable; retry" }
  }
}

resource "aws_api_gateway_gateway_response" "error_shape" {
  for_each = local.gateway_responses

  rest_api_id   = aws_api_gateway_rest_api.client.id
  response_type = each.key
  status_code   = each.value.status

  response_templates = {
    "application/json" = jsonencode({ error = { code = each.value.code, message = each.value.message } })
  }
}

resource "aws_api_gateway_deployment" "client" {
  rest_api_id = aws_api_gateway_rest_api.client.id

  # A new deployment whenever a route, its integration or an error response
  # changes.
  triggers = {
    redeployment = sha1(jsonencode([
      local.api_route_settings,
      [for m in aws_api_gateway_method.route : m.id],
      [for i in aws_api_gateway_integration.route : [i.id, i.uri]],
      [for r in aws_api_gateway_gateway_response.error_shape : r.id],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${local.prefix}-api"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
}

# REST and WebSocket APIs log through one role per account and region.
resource "aws_iam_role" "api_gateway_logs" {
  count = var.manage_api_gateway_account ? 1 : 0

  name        = "${local.prefix}-api-gateway-logs"
  description = "Lets API Gateway (REST and WebSocket APIs of this account and region) write to CloudWatch Logs"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "apigateway.amazonaws.com" }
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
}

resource "aws_iam_role_policy_attachment" "api_gateway_logs" {
  count = var.manage_api_gateway_account ? 1 : 0

  role       = aws_iam_role.api_gateway_logs[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count = var.manage_api_gateway_account ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.api_gateway_logs[0].arn
  depends_on          = [aws_iam_role_policy_attachment.api_gateway_logs]
}

resource "aws_api_gateway_stage" "client" {
  rest_api_id          = aws_api_gateway_rest_api.client.id
  deployment_id        = aws_api_gateway_deployment.client.id
  stage_name           = local.api_stage
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      ip                 = "$context.identity.sourceIp"
      apiKeyId           = "$context.identity.apiKeyId"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      resourcePath       = "$context.resourcePath"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integration.error"
      wafStatus          = "$context.waf.status"
      errorType          = "$context.error.responseType"
    })
  }

  depends_on = [aws_api_gateway_account.this]
}

# Stage throttling (all clients together), metrics, and execution logs of
# errors only.
resource "aws_api_gateway_method_settings" "client" {
  rest_api_id = aws_api_gateway_rest_api.client.id
  stage_name  = aws_api_gateway_stage.client.stage_name
  method_path = "*/*"

  settings {
    throttling_rate_limit  = var.api_throttling_rate_limit
    throttling_burst_limit = var.api_throttling_burst_limit
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false
    caching_enabled        = false
    cache_data_encrypted   = true
  }
}

resource "aws_lambda_permission" "api_gateway" {
  statement_id  = "AllowRestApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["api"].function_name
  principal     = "apigateway.amazonaws.com"
  # This API's stages, methods and paths.
  source_arn = "${aws_api_gateway_rest_api.client.execution_arn}/*/*"
}

# --- per-client keys and usage plans ---------------------------------------------------

resource "aws_api_gateway_api_key" "client" {
  for_each = var.api_clients

  name        = "${local.prefix}-${each.key}"
  description = "API key of the ${each.key} client of ${local.prefix}"
  enabled     = true
}

resource "aws_api_gateway_usage_plan" "client" {
  for_each = var.api_clients

  name        = "${local.prefix}-${each.key}"
  description = "Limits of the ${each.key} client"

  api_stages {
    api_id = aws_api_gateway_rest_api.client.id
    stage  = aws_api_gateway_stage.client.stage_name
  }

  throttle_settings {
    rate_limit  = each.value.rate_limit
    burst_limit = each.value.burst_limit
  }

  dynamic "quota_settings" {
    for_each = each.value.quota_per_day == null ? [] : [each.value.quota_per_day]

    content {
      limit  = quota_settings.value
      period = "DAY"
    }
  }
}

resource "aws_api_gateway_usage_plan_key" "client" {
  for_each = var.api_clients

  key_id        = aws_api_gateway_api_key.client[each.key].id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.client[each.key].id
}

# --- optional custom domain ---------------------------------------------------------------

# The default URL carries the stage (https://<id>.execute-api.<region>.amazonaws.com/v1/) and
# changes if the API is ever re-created. A custom domain maps the stage to the domain's root:
# a stable URL for the clients.
resource "aws_api_gateway_domain_name" "client" {
  count = var.api_domain_name == null ? 0 : 1

  domain_name              = var.api_domain_name
  regional_certificate_arn = var.api_certificate_arn
  security_policy          = "TLS_1_2"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    precondition {
      condition     = var.api_certificate_arn != null
      error_message = "api_domain_name needs api_certificate_arn (an ACM certificate for it, in this region)."
    }
  }
}

resource "aws_api_gateway_base_path_mapping" "client" {
  count = var.api_domain_name == null ? 0 : 1

  api_id      = aws_api_gateway_rest_api.client.id
  stage_name  = aws_api_gateway_stage.client.stage_name
  domain_name = aws_api_gateway_domain_name.client[0].domain_name
}
