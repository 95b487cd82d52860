# Three functions built by `make build-lambdas` (cargo lambda, provided.al2023).
# Each reads its settings from exactly these environment variables.

locals {
  function_environment = {
    api = {
      TABLE_NAME            = aws_dynamodb_table.transactions.name
      TOPIC_ARN             = aws_sns_topic.requests.arn
      KMS_KEY_ID            = aws_kms_key.signer.key_id
      CHAIN_ID              = tostring(var.chain_id)
      ALLOWED_MESSAGE_TYPES = local.allowed_message_types
      RUST_LOG              = var.rust_log
    }
    signer = {
      TABLE_NAME          = aws_dynamodb_table.transactions.name
      BROADCAST_QUEUE_URL = aws_sqs_queue.broadcast.url
      KMS_KEY_ID          = aws_kms_key.signer.key_id
      RPC_URL             = var.rpc_url
      CHAIN_ID            = tostring(var.chain_id)
      TARGET_CONTRACT     = var.target_contract
      TARGET_CONTRACTS    = local.target_contracts
      RPC_TIMEOUT_MS      = tostring(var.rpc_timeout_ms)
      RUST_LOG            = var.rust_log
    }
    broadcaster = {
      TABLE_NAME          = aws_dynamodb_table.transactions.name
      BROADCAST_QUEUE_URL = aws_sqs_queue.broadcast.url
      RPC_URL             = var.rpc_url
      CHAIN_ID            = tostring(var.chain_id)
      RPC_TIMEOUT_MS      = tostring(var.rpc_timeout_ms)
      CONFIRMATIONS       = tostring(var.confirmations)
      RUST_LOG            = var.rust_log
    }
  }

  function_descriptions = {
    api         = "HTTP API: accepts transaction requests and serves their status"
    signer      = "Signs queued transaction requests with KMS"
    broadcaster = "Broadcasts signed transactions and tracks them to confirmation"
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.function_timeouts

  name              = "/aws/lambda/${local.prefix}-${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "function" {
  for_each = local.function_timeouts

  function_name    = "${local.prefix}-${each.key}"
  description      = local.function_descriptions[each.key]
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  architectures    = [var.lambda_architecture]
  handler          = "bootstrap"
  filename         = "${var.lambda_zip_dir}/${each.key}/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.lambda_zip_dir}/${each.key}/bootstrap.zip")
  timeout          = each.value
  memory_size      = var.lambda_memory_mb

  environment {
    variables = local.function_environment[each.key]
  }

  tracing_config {
    mode = "Active"
  }

  # The log group (with its retention) must exist before the first invocation
  # creates an unmanaged one, and the role must be able to write to it.
  depends_on = [
    aws_cloudwatch_log_group.function,
    aws_iam_role_policy.function,
  ]
}

# Queues -> consumers. Partial batch responses: a failed record is retried on
# its own, the rest of the batch is deleted.
resource "aws_lambda_event_source_mapping" "signer" {
  event_source_arn        = aws_sqs_queue.sign.arn
  function_name           = aws_lambda_function.function["signer"].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.signer_max_concurrency
  }
}

resource "aws_lambda_event_source_mapping" "broadcaster" {
  event_source_arn        = aws_sqs_queue.broadcast.arn
  function_name           = aws_lambda_function.function["broadcaster"].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.broadcaster_max_concurrency
  }
}
