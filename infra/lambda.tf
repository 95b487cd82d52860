# The functions built by `make build-lambdas` (cargo lambda, provided.al2023),
# one per crate in functions/. Each reads its settings from exactly these
# environment variables (`Config::from_env` in functions/<name>/src/lib.rs);
# tools/infra-check checks the two against each other.

locals {
  # Retry timing shared by the signer and the broadcaster. MAX_ATTEMPTS is the
  # queues' maxReceiveCount too: the handler must know which delivery is the
  # last one, to mark the transaction needs_review before SQS dead-letters it.
  backoff_environment = {
    BACKOFF_BASE_SECONDS = tostring(var.backoff_base_seconds)
    BACKOFF_FACTOR       = tostring(var.backoff_factor)
    BACKOFF_CAP_SECONDS  = tostring(var.backoff_cap_seconds)
    MAX_ATTEMPTS         = tostring(var.max_attempts)
  }

  function_environment = {
    api = {
      TABLE_NAME            = aws_dynamodb_table.transactions.name
      TOPIC_ARN             = aws_sns_topic.requests.arn
      # The chains: a request may name one; /health reports each one's lanes.
      CHAINS                = local.chains_declaration
      ALLOWED_MESSAGE_TYPES = local.allowed_message_types
      # Where the status page's browser connects for live updates.
      WEBSOCKET_URL = aws_apigatewayv2_stage.websocket.invoke_url
      # Where operators sign in to the status page (the user pool's hosted UI, code flow
      # with PKCE); the page sends the access token to the operators' API.
      OPERATOR_SIGN_IN_URL = local.operator_hosted_ui_url
      OPERATOR_CLIENT_ID   = aws_cognito_user_pool_client.status_page.id
      # Clients' webhook endpoints and delivery logs; an operator's re-delivery
      # queues here.
      WEBHOOK_TABLE_NAME = aws_dynamodb_table.webhooks.name
      WEBHOOK_QUEUE_URL  = aws_sqs_queue.webhooks.url
      # The REST API's events carry the stage in the path ("/v1/health");
      # lambda_http strips it, so the router sees "/health".
      AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH = "true"
      RUST_LOG                             = var.rust_log
    }
    signer = merge(local.backoff_environment, {
      TABLE_NAME = aws_dynamodb_table.transactions.name
      # Its own queue: retries are delayed through the message's visibility.
      SIGN_QUEUE_URL          = aws_sqs_queue.sign.url
      SIGN_PRIORITY_QUEUE_URL = aws_sqs_queue.sign_priority.url
      BROADCAST_QUEUE_URL     = aws_sqs_queue.broadcast.url
      # Each chain's keys, nodes (their secret), targets, allowlist and caps.
      CHAINS                  = local.chains_declaration
      RPC_TIMEOUT_MS          = tostring(var.rpc_timeout_ms)
      SIGNING_LEASE_SECONDS   = tostring(var.signing_lease_seconds)
      # What it may sign, checked again here: a message that reached the queue
      # some other way than through the api is refused too.
      ALLOWED_MESSAGE_TYPES = local.allowed_message_types
      # Spend limits of one transaction: gas limit x max fee per gas.
      MAX_GAS_LIMIT       = tostring(var.max_gas_limit)
      MAX_FEE_PER_GAS_WEI = var.max_fee_per_gas_wei
      RUST_LOG            = var.rust_log
    })
    broadcaster = merge(local.backoff_environment, {
      TABLE_NAME = aws_dynamodb_table.transactions.name
      # A transaction whose nonce another sender took goes back to be signed again,
      # ahead of the backlog.
      SIGN_PRIORITY_QUEUE_URL      = aws_sqs_queue.sign_priority.url
      BROADCAST_QUEUE_URL          = aws_sqs_queue.broadcast.url
      BROADCAST_PRIORITY_QUEUE_URL = aws_sqs_queue.broadcast_priority.url
      # Each chain's nodes, confirmations, fee policy and keys (fee-bump
      # replacements and nonce fillers are signed by the transaction's lane).
      CHAINS               = local.chains_declaration
      RPC_TIMEOUT_MS       = tostring(var.rpc_timeout_ms)
      RECEIPT_POLL_SECONDS = tostring(var.receipt_poll_seconds)
      FEE_BUMP_PERCENT     = tostring(var.fee_bump_percent)
      MAX_FEE_PER_GAS_WEI  = var.max_fee_per_gas_wei
      RUST_LOG             = var.rust_log
    })
    "dead-letter" = {
      TABLE_NAME = aws_dynamodb_table.transactions.name
      RUST_LOG   = var.rust_log
    }
    sweeper = merge({
      TABLE_NAME          = aws_dynamodb_table.transactions.name
      TOPIC_ARN           = aws_sns_topic.requests.arn
      BROADCAST_QUEUE_URL = aws_sqs_queue.broadcast.url
      SWEEP_GRACE_SECONDS = tostring(var.sweep_grace_seconds)
      SWEEP_BATCH_LIMIT   = tostring(var.sweep_batch_limit)
      # The nonce watchdog: every chain's keys it watches and fills with, on the
      # chain's nodes; a lane that can't pay one transaction at the spend caps is
      # underfunded.
      CHAINS              = local.chains_declaration
      RPC_TIMEOUT_MS      = tostring(var.rpc_timeout_ms)
      MAX_GAS_LIMIT       = tostring(var.max_gas_limit)
      MAX_FEE_PER_GAS_WEI = var.max_fee_per_gas_wei
      RUST_LOG            = var.rust_log
    })
    # No node: the broadcaster decides on chain what a re-sent transaction's nonce became.
    retry = {
      TABLE_NAME                   = aws_dynamodb_table.transactions.name
      SIGN_PRIORITY_QUEUE_URL      = aws_sqs_queue.sign_priority.url
      BROADCAST_PRIORITY_QUEUE_URL = aws_sqs_queue.broadcast_priority.url
      RUST_LOG                     = var.rust_log
    }
    notifier = {
      TABLE_NAME = aws_dynamodb_table.transactions.name
      # The WebSocket API's management endpoint (https, not wss).
      WEBSOCKET_ENDPOINT = local.websocket_management_endpoint
      # As the $connect authorizer: whose tokens it accepts (the operators'
      # pool, the status page's app client).
      COGNITO_ISSUER    = local.operator_token_issuer
      COGNITO_CLIENT_ID = aws_cognito_user_pool_client.status_page.id
      RUST_LOG          = var.rust_log
    }
    # Public endpoints only (no WEBHOOK_ALLOW_LOOPBACK on AWS).
    webhooks = merge(local.webhook_backoff_environment, {
      TABLE_NAME              = aws_dynamodb_table.transactions.name
      WEBHOOK_TABLE_NAME      = aws_dynamodb_table.webhooks.name
      WEBHOOK_QUEUE_URL       = aws_sqs_queue.webhooks.url
      WEBHOOK_TIMEOUT_SECONDS = tostring(var.webhook_timeout_seconds)
      RUST_LOG                = var.rust_log
    })
  }

  function_descriptions = {
    api           = "Client and operator APIs: accepts transaction requests, serves their status and the status page"
    signer        = "Signs queued transaction requests with KMS"
    broadcaster   = "Broadcasts signed transactions and tracks them to confirmation"
    "dead-letter" = "Marks transactions whose messages were dead-lettered as needing review"
    sweeper       = "Re-publishes transactions stuck in a non-final status"
    retry         = "Admin retry: re-drives a failed transaction through the priority queues"
    notifier      = "Authorizes the status page's WebSocket connections and pushes transaction changes to them"
    webhooks      = "Tells clients' endpoints of their transactions' events: signed, at least once, with backoff"
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.function_timeouts

  name              = "/aws/lambda/${local.prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
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

  # Encrypted with the data key (Lambda decrypts it through a grant made at
  # deploy time). No node URL is in it: those are in the chains' secrets.
  kms_key_arn = aws_kms_key.data.arn
  environment {
    variables = local.function_environment[each.key]
  }

  # The code writes JSON lines (one per event, with the transaction_id); Lambda
  # writes its own records (start, end, report) as JSON too, so Logs Insights
  # can query both by field.
  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  tracing_config {
    mode = "Active"
  }

  # The code refuses these at start-up; refuse them at plan time instead.
  lifecycle {
    precondition {
      condition     = length(var.chains) > 0 || (var.chain_id != null && var.target_contract != null)
      error_message = "Declare the chains in chains (with chain_nodes), or set chain_id and target_contract for one chain."
    }
    precondition {
      # Each would be ignored (its chain's entry says), and a target or a depth silently
      # ignored is a call sent elsewhere or confirmed too soon.
      condition = length(var.chains) == 0 || (
        var.chain_id == null && var.rpc_url == null && length(var.rpc_nodes) == 0 &&
        var.target_contract == null && length(var.target_contracts) == 0 &&
        var.confirmations == null && var.reprice_after_blocks == null &&
        var.lanes == 1 && var.rpc_send_to == 1
      )
      error_message = "With chains, leave the single-chain variables unset (chain_id, rpc_url, rpc_nodes, target_contract, target_contracts, confirmations, reprice_after_blocks, lanes, rpc_send_to): each chain's settings are in its entry of chains."
    }
    precondition {
      # Lambda refuses an environment over 4 KB. What grows is the chains' declaration (with
      # chains and lanes), the allowlist and the log filter; the rest (queue URLs, numbers,
      # the names) stays under 800 bytes. All known at plan time (a version id is always 36
      # characters).
      condition     = length(local.chains_declaration_planned) + length(local.allowed_message_types) + length(var.rust_log) <= 3200
      error_message = "The chains' declaration (CHAINS, ${length(local.chains_declaration_planned)} bytes), the allowlist and RUST_LOG together must stay under 3200 bytes to fit a function's 4 KB environment: fewer chains or lanes per deployment, shorter names (name_prefix, chain names), or per-chain allowlists."
    }
    precondition {
      condition     = length(var.chains) > 0 || var.rpc_url != null || length(var.rpc_nodes) > 0
      error_message = "Set rpc_url, or list the chain's nodes in rpc_nodes."
    }
    precondition {
      condition     = var.rpc_url == null || length(var.rpc_nodes) == 0
      error_message = "Set rpc_url or rpc_nodes, not both (rpc_url would be ignored)."
    }
    precondition {
      condition     = sort(keys(local.nodes_by_chain)) == sort(keys(local.chains))
      error_message = "chain_nodes must list the nodes of every chain in chains, and of no other."
    }
    precondition {
      # Unlabelled nodes are node-1, node-2, ... by position.
      condition = alltrue([for nodes in values(local.nodes_by_chain) : length(nodes) == length(distinct([
        for i, node in nodes : coalesce(node.label, "node-${i + 1}")
      ]))])
      error_message = "Every label of a chain's nodes must be different (an unlabelled node is node-N, N its position)."
    }
    precondition {
      condition     = alltrue([for name, chain in local.chains : chain.send_to <= length(lookup(local.nodes_by_chain, name, []))])
      error_message = "A chain's send_to (rpc_send_to) can't be more than its nodes."
    }
    precondition {
      condition     = var.backoff_cap_seconds >= var.backoff_base_seconds
      error_message = "backoff_cap_seconds must be at least backoff_base_seconds."
    }
    precondition {
      # The webhooks function refuses it at start-up, and would never run.
      condition     = var.webhook_backoff_cap_seconds >= var.webhook_backoff_base_seconds
      error_message = "webhook_backoff_cap_seconds must be at least webhook_backoff_base_seconds."
    }
    precondition {
      # A lease shorter than an invocation lets a redelivery start signing the
      # same transaction while the first attempt is still at it.
      condition     = var.signing_lease_seconds >= local.function_timeouts.signer
      error_message = "signing_lease_seconds must be at least the signer's timeout (${local.function_timeouts.signer} s)."
    }
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

# The priority queues feed the same consumers. Admin retries are rare: the
# lowest concurrency SQS allows, on top of the main mappings'.
resource "aws_lambda_event_source_mapping" "signer_priority" {
  event_source_arn        = aws_sqs_queue.sign_priority.arn
  function_name           = aws_lambda_function.function["signer"].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = 2
  }
}

resource "aws_lambda_event_source_mapping" "broadcaster_priority" {
  event_source_arn        = aws_sqs_queue.broadcast_priority.arn
  function_name           = aws_lambda_function.function["broadcaster"].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = 2
  }
}

# Both dead-letter queues -> the dead-letter consumer. It reports every record
# as failed on purpose, so the message stays in its DLQ for the operators and
# comes back after the DLQ's 12-hour visibility timeout. Dead letters are rare
# and not urgent: small batches, and the lowest concurrency SQS allows.
resource "aws_lambda_event_source_mapping" "dead_letter" {
  for_each = {
    sign      = aws_sqs_queue.sign_dlq.arn
    broadcast = aws_sqs_queue.broadcast_dlq.arn
  }

  event_source_arn        = each.value
  function_name           = aws_lambda_function.function["dead-letter"].arn
  batch_size              = 5
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = 2
  }
}

# The table's stream -> the notifier, which pushes each change to the status
# page. Only changes from now on matter (LATEST). A live update is worth little
# once stale: a failing batch is split to find the bad record, retried twice,
# and records older than five minutes are dropped rather than block the shard
# (the page reloads its list when it reconnects).
resource "aws_lambda_event_source_mapping" "notifier" {
  event_source_arn                   = aws_dynamodb_table.transactions.stream_arn
  function_name                      = aws_lambda_function.function["notifier"].arn
  starting_position                  = "LATEST"
  batch_size                         = 100
  maximum_batching_window_in_seconds = 1
  function_response_types            = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = 2
  maximum_record_age_in_seconds      = 300
  parallelization_factor             = 1

  # Only transactions are shown: nonce counters, idempotency keys and the
  # notifier's own connection items never invoke it.
  filter_criteria {
    filter {
      pattern = jsonencode({ dynamodb = { Keys = { pk = { S = [{ prefix = "TX#" }] } } } })
    }
  }
}
