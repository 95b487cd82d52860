# One role per function, each allowed only what its code does.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.function_timeouts

  name               = "${local.prefix}-${each.key}"
  description        = "Execution role of the ${local.prefix} ${each.key} function"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy" "function" {
  for_each = local.function_policies

  name   = "${local.prefix}-${each.key}"
  role   = aws_iam_role.function[each.key].id
  policy = each.value
}

locals {
  function_policies = {
    api           = data.aws_iam_policy_document.api.json
    signer        = data.aws_iam_policy_document.signer.json
    broadcaster   = data.aws_iam_policy_document.broadcaster.json
    "dead-letter" = data.aws_iam_policy_document.dead_letter.json
    sweeper       = data.aws_iam_policy_document.sweeper.json
    retry         = data.aws_iam_policy_document.retry.json
    notifier      = data.aws_iam_policy_document.notifier.json
    webhooks      = data.aws_iam_policy_document.webhooks.json
  }

  index_arn = { for name in ["by_status", "by_created", "by_client", "by_nonce"] : name => "${aws_dynamodb_table.transactions.arn}/index/${name}" }

  # What Lambda's SQS event source mapping does with the function's role.
  consume_queue_actions = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]

  # X-Ray's write actions have no resource-level permissions.
  xray_actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]

  # The services through which each function touches data encrypted with the
  # data key: the table (and its stream), the queues, the requests topic.
  data_key_services = {
    api           = ["dynamodb", "sns", "sqs"]
    # The three that call nodes read the chains' node secrets (Secrets Manager).
    signer        = ["dynamodb", "sqs", "secretsmanager"]
    broadcaster   = ["dynamodb", "sqs", "secretsmanager"]
    "dead-letter" = ["dynamodb", "sqs"]
    sweeper       = ["dynamodb", "sns", "sqs", "secretsmanager"]
    retry         = ["dynamodb", "sqs"]
    notifier      = ["dynamodb"]
    webhooks      = ["dynamodb", "sqs"]
  }

  # Reading encrypted data needs Decrypt; writing it, a data key (SQS, SNS) or
  # Encrypt (DynamoDB's table key).
  data_key_actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
}

# DynamoDB note for every policy below: TransactWriteItems has no IAM action
# of its own; each of its parts is authorised as PutItem, UpdateItem,
# DeleteItem or ConditionCheckItem. The code's transactions use Put + Put and
# Delete (+ Delete) in the api, and Update + Update in the signer, so no role
# needs ConditionCheckItem.

# Writing to its own log group is the only CloudWatch Logs access a function
# needs: the groups are created here, so no logs:CreateLogGroup. Every
# function also writes traces, and uses the data key only through the services
# it calls (kms:ViaService).
data "aws_iam_policy_document" "common" {
  for_each = local.function_timeouts

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid       = "Tracing"
    effect    = "Allow"
    actions   = local.xray_actions
    resources = ["*"]
  }

  statement {
    sid       = "DataKeyThroughServices"
    effect    = "Allow"
    actions   = local.data_key_actions
    resources = [aws_kms_key.data.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [for service in local.data_key_services[each.key] : "${service}.${local.region}.amazonaws.com"]
    }
  }
}

# The functions that call nodes read each chain's node list, once at start-up,
# from its secret: those secrets only.
data "aws_iam_policy_document" "chain_nodes" {
  statement {
    sid       = "ReadChainNodes"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for secret in aws_secretsmanager_secret.nodes : secret.arn]
  }
}

# api: create (PutItem, or a transaction of two Puts with the idempotency
# key), read and list transactions, withdraw an unpublished one (a transaction
# of Deletes); publish requests; report the signer's address (from the public key).
data "aws_iam_policy_document" "api" {
  source_policy_documents = [data.aws_iam_policy_document.common["api"].json]

  statement {
    sid       = "Transactions"
    effect    = "Allow"
    actions   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.transactions.arn]
  }

  statement {
    sid       = "ListTransactions"
    effect    = "Allow"
    actions   = ["dynamodb:Query"]
    resources = values(local.index_arn)
  }

  # The status page's timeline: the per-minute progress items, read only.
  statement {
    sid       = "ReadProgress"
    effect    = "Allow"
    actions   = ["dynamodb:BatchGetItem"]
    resources = [aws_dynamodb_table.transactions.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["PROGRESS#*"]
    }
  }

  statement {
    sid       = "PublishRequests"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.requests.arn]
  }

  # Webhooks: a client's endpoints (HOOKS#, written over the version read) and
  # a transaction's delivery log (HOOKLOG#), read, in the webhook table; an
  # operator's re-delivery is queued.
  statement {
    sid       = "WebhookEndpointsAndLogs"
    effect    = "Allow"
    actions   = ["dynamodb:PutItem", "dynamodb:GetItem"]
    resources = [aws_dynamodb_table.webhooks.arn]
  }

  statement {
    sid       = "QueueRedeliveries"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.webhooks.arn]
  }

  statement {
    sid       = "SignerPublicKey"
    effect    = "Allow"
    actions   = ["kms:GetPublicKey"]
    resources = local.signing_key_arns
  }
}

# signer: consume the sign queue and its priority queue and back off its own
# failed messages (their visibility, on the queue each came from), lease and
# sign through KMS (also nonce fillers), seed the nonce counter (PutItem) and
# take nonces (a transaction of two Updates), hand off to the broadcast queue.
data "aws_iam_policy_document" "signer" {
  source_policy_documents = [
    data.aws_iam_policy_document.common["signer"].json,
    data.aws_iam_policy_document.chain_nodes.json,
  ]

  statement {
    sid       = "Transactions"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"]
    resources = [aws_dynamodb_table.transactions.arn]
  }

  statement {
    sid       = "ConsumeSignQueues"
    effect    = "Allow"
    actions   = concat(local.consume_queue_actions, ["sqs:ChangeMessageVisibility"])
    resources = [aws_sqs_queue.sign.arn, aws_sqs_queue.sign_priority.arn]
  }

  statement {
    sid       = "HandOffToBroadcast"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.broadcast.arn]
  }

  # A transaction that waits for funds or for fees under the cap is parked as a fresh, delayed
  # message on the signer's own queue, so the wait does not use up its deliveries.
  statement {
    sid       = "ParkWaitingTransactions"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.sign.arn]
  }

  statement {
    sid       = "SignTransactions"
    effect    = "Allow"
    actions   = ["kms:Sign", "kms:GetPublicKey"]
    resources = local.signing_key_arns
  }
}

# broadcaster: consume the broadcast queue and its priority queue, back off its
# failed messages (their visibility, on the queue each came from) and enqueue
# its own delayed receipt checks to the main queue; update the transaction and
# resync the nonce counter (UpdateItem only); re-sign fee-bump replacements and
# nonce fillers through KMS.
data "aws_iam_policy_document" "broadcaster" {
  source_policy_documents = [
    data.aws_iam_policy_document.common["broadcaster"].json,
    data.aws_iam_policy_document.chain_nodes.json,
  ]

  statement {
    sid       = "Transactions"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.transactions.arn]
  }

  statement {
    sid       = "ConsumeBroadcastQueues"
    effect    = "Allow"
    actions   = concat(local.consume_queue_actions, ["sqs:ChangeMessageVisibility"])
    resources = [aws_sqs_queue.broadcast.arn, aws_sqs_queue.broadcast_priority.arn]
  }

  statement {
    sid       = "ScheduleReceiptChecks"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.broadcast.arn]
  }

  # Another sender took a transaction's nonce: it goes back to the signer for a fresh one,
  # through the signer's priority queue.
  statement {
    sid       = "ResignLostNonces"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.sign_priority.arn]
  }

  statement {
    sid       = "ResignReplacements"
    effect    = "Allow"
    actions   = ["kms:Sign", "kms:GetPublicKey"]
    resources = local.signing_key_arns
  }
}

# dead-letter: read both dead-letter queues and flag the transaction
# needs_review. DeleteMessage is part of what the event source mapping needs,
# though the function never lets it delete: it reports every record as failed.
data "aws_iam_policy_document" "dead_letter" {
  source_policy_documents = [data.aws_iam_policy_document.common["dead-letter"].json]

  statement {
    sid       = "Transactions"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.transactions.arn]
  }

  statement {
    sid       = "ConsumeDeadLetterQueues"
    effect    = "Allow"
    actions   = local.consume_queue_actions
    resources = [aws_sqs_queue.sign_dlq.arn, aws_sqs_queue.broadcast_dlq.arn]
  }
}

# sweeper: find overdue transactions by status, push their next check out
# and note the sweep (UpdateItem), and hand each to its stage again: unsigned
# ones through the topic, signed ones straight to the broadcast queue. Its
# nonce watchdog reads the nonces held (by_nonce) and the counter (GetItem),
# repairs the counter (UpdateItem), marks reorganised transactions, and fills
# holes with zero-value self-transfers signed by the key.
data "aws_iam_policy_document" "sweeper" {
  source_policy_documents = [
    data.aws_iam_policy_document.common["sweeper"].json,
    data.aws_iam_policy_document.chain_nodes.json,
  ]

  statement {
    sid       = "FindOverdueAndHeldNonces"
    effect    = "Allow"
    actions   = ["dynamodb:Query"]
    resources = [local.index_arn["by_status"], local.index_arn["by_nonce"]]
  }

  statement {
    sid       = "Transactions"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.transactions.arn]
  }

  # Seeds the counter of a lane that never signed (a conditional put, never
  # over an existing item) and notes the nodes it probed for /health: those
  # items only.
  statement {
    sid       = "SeedLaneCountersAndNoteNodes"
    effect    = "Allow"
    actions   = ["dynamodb:PutItem"]
    resources = [aws_dynamodb_table.transactions.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["NONCE#*", "NODES#*"]
    }
  }

  statement {
    sid       = "FillNonceHoles"
    effect    = "Allow"
    actions   = ["kms:Sign", "kms:GetPublicKey"]
    resources = local.signing_key_arns
  }

  statement {
    sid       = "RepublishRequests"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.requests.arn]
  }

  statement {
    sid       = "RequeueSigned"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.broadcast.arn]
  }
}

# retry (admin): read the transaction and record the operator's retry
# (UpdateItem), from the record alone (no node: the broadcaster decides on chain),
# and put it on the front of the line: the priority queue of the stage it goes
# back to.
data "aws_iam_policy_document" "retry" {
  source_policy_documents = [data.aws_iam_policy_document.common["retry"].json]

  statement {
    sid       = "Transactions"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.transactions.arn]
  }

  statement {
    sid       = "EnqueuePriority"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.sign_priority.arn, aws_sqs_queue.broadcast_priority.arn]
  }
}

# What Lambda's event source mapping on the table's stream does with the
# function's role (the notifier's and the webhooks function's).
data "aws_iam_policy_document" "read_table_stream" {
  statement {
    sid    = "ReadTableStream"
    effect = "Allow"
    actions = [
      "dynamodb:DescribeStream",
      "dynamodb:GetRecords",
      "dynamodb:GetShardIterator",
    ]
    resources = [aws_dynamodb_table.transactions.stream_arn]
  }

  # ListStreams has no resource-level permissions.
  statement {
    sid       = "ListStreams"
    effect    = "Allow"
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"]
  }
}

# notifier: read the table's stream (what Lambda's event source mapping does
# with the role), keep the status page's connections as `CONN#<id>` items
# (PutItem on $connect, DeleteItem on $disconnect or when a connection is
# gone, GetItem), list them through the by_created index (kind = "conn"), and
# push each change to them through the WebSocket API's management endpoint.
# Authorizing $connect needs no AWS permission: the user pool's signing keys
# are public (<issuer>/.well-known/jwks.json).
data "aws_iam_policy_document" "notifier" {
  source_policy_documents = [
    data.aws_iam_policy_document.common["notifier"].json,
    data.aws_iam_policy_document.read_table_stream.json,
  ]

  statement {
    sid       = "Connections"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.transactions.arn]
  }

  # Adds each stream batch's progress to its minute's item (the status page's
  # timeline): those items only.
  statement {
    sid       = "KeepProgress"
    effect    = "Allow"
    actions   = ["dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.transactions.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["PROGRESS#*"]
    }
  }

  statement {
    sid       = "ListConnections"
    effect    = "Allow"
    actions   = ["dynamodb:Query"]
    resources = [local.index_arn["by_created"]]
  }

  statement {
    sid       = "PushToConnections"
    effect    = "Allow"
    actions   = ["execute-api:ManageConnections"]
    resources = ["${aws_apigatewayv2_api.websocket.execution_arn}/${local.websocket_stage}/POST/@connections/*"]
  }
}
