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
  }

  index_arn = { for name in ["by_status", "by_created"] : name => "${aws_dynamodb_table.transactions.arn}/index/${name}" }

  # What Lambda's SQS event source mapping does with the function's role.
  consume_queue_actions = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]

  # X-Ray's write actions have no resource-level permissions.
  xray_actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
}

# DynamoDB note for every policy below: TransactWriteItems has no IAM action
# of its own; each of its parts is authorised as PutItem, UpdateItem,
# DeleteItem or ConditionCheckItem. The code's transactions use Put + Put and
# Delete (+ Delete) in the api, and Update + Update in the signer, so no role
# needs ConditionCheckItem.

# Writing to its own log group is the only CloudWatch Logs access a function
# needs: the groups are created here, so no logs:CreateLogGroup.
data "aws_iam_policy_document" "logs" {
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
}

# api: create (PutItem, or a transaction of two Puts with the idempotency
# key), read and list transactions, withdraw an unpublished one (a transaction
# of Deletes); publish requests; report the signer's address (from the public key).
data "aws_iam_policy_document" "api" {
  source_policy_documents = [data.aws_iam_policy_document.logs["api"].json]

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

  statement {
    sid       = "PublishRequests"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.requests.arn]
  }

  statement {
    sid       = "SignerPublicKey"
    effect    = "Allow"
    actions   = ["kms:GetPublicKey"]
    resources = [aws_kms_key.signer.arn]
  }
}

# signer: consume the sign queue and back off its own failed messages (their
# visibility), lease and sign through KMS (also nonce fillers), seed the nonce
# counter (PutItem) and take nonces (a transaction of two Updates), hand off to
# the broadcast queue.
data "aws_iam_policy_document" "signer" {
  source_policy_documents = [data.aws_iam_policy_document.logs["signer"].json]

  statement {
    sid       = "Transactions"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"]
    resources = [aws_dynamodb_table.transactions.arn]
  }

  statement {
    sid       = "ConsumeSignQueue"
    effect    = "Allow"
    actions   = concat(local.consume_queue_actions, ["sqs:ChangeMessageVisibility"])
    resources = [aws_sqs_queue.sign.arn]
  }

  statement {
    sid       = "HandOffToBroadcast"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.broadcast.arn]
  }

  statement {
    sid       = "SignTransactions"
    effect    = "Allow"
    actions   = ["kms:Sign", "kms:GetPublicKey"]
    resources = [aws_kms_key.signer.arn]
  }
}

# broadcaster: consume the broadcast queue, back off its failed messages (their
# visibility) and enqueue its own delayed receipt checks to it; update the
# transaction and resync the nonce counter (UpdateItem only); re-sign fee-bump
# replacements and nonce fillers through KMS.
data "aws_iam_policy_document" "broadcaster" {
  source_policy_documents = [data.aws_iam_policy_document.logs["broadcaster"].json]

  statement {
    sid       = "Transactions"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.transactions.arn]
  }

  statement {
    sid    = "ConsumeBroadcastQueue"
    effect = "Allow"
    actions = concat(local.consume_queue_actions, [
      "sqs:ChangeMessageVisibility",
      "sqs:SendMessage",
    ])
    resources = [aws_sqs_queue.broadcast.arn]
  }

  statement {
    sid       = "ResignReplacements"
    effect    = "Allow"
    actions   = ["kms:Sign", "kms:GetPublicKey"]
    resources = [aws_kms_key.signer.arn]
  }
}

# dead-letter: read both dead-letter queues and flag the transaction
# needs_review. DeleteMessage is part of what the event source mapping needs,
# though the function never lets it delete: it reports every record as failed.
data "aws_iam_policy_document" "dead_letter" {
  source_policy_documents = [data.aws_iam_policy_document.logs["dead-letter"].json]

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
# ones through the topic, signed ones straight to the broadcast queue.
data "aws_iam_policy_document" "sweeper" {
  source_policy_documents = [data.aws_iam_policy_document.logs["sweeper"].json]

  statement {
    sid       = "FindOverdue"
    effect    = "Allow"
    actions   = ["dynamodb:Query"]
    resources = [local.index_arn["by_status"]]
  }

  statement {
    sid       = "Transactions"
    effect    = "Allow"
    actions   = ["dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.transactions.arn]
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
