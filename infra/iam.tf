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
    api         = data.aws_iam_policy_document.api.json
    signer      = data.aws_iam_policy_document.signer.json
    broadcaster = data.aws_iam_policy_document.broadcaster.json
  }

  table_and_indexes = [
    aws_dynamodb_table.transactions.arn,
    "${aws_dynamodb_table.transactions.arn}/index/*",
  ]

  # X-Ray's write actions have no resource-level permissions.
  xray_actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
}

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

# api: create, read and list transactions; publish requests; report the
# signer's address (derived from the public key).
data "aws_iam_policy_document" "api" {
  source_policy_documents = [data.aws_iam_policy_document.logs["api"].json]

  statement {
    sid    = "Transactions"
    effect = "Allow"
    actions = [
      "dynamodb:PutItem",
      "dynamodb:GetItem",
      "dynamodb:Query",
      "dynamodb:DeleteItem",
      "dynamodb:UpdateItem",
      # TransactWriteItems is authorised per item (Put/Update/Delete above)
      # plus this for its ConditionCheck parts; there is no IAM action of its own.
      "dynamodb:ConditionCheckItem",
    ]
    resources = local.table_and_indexes
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

# signer: consume the sign queue, sign with KMS, hand off to the broadcast queue.
data "aws_iam_policy_document" "signer" {
  source_policy_documents = [data.aws_iam_policy_document.logs["signer"].json]

  statement {
    sid    = "Transactions"
    effect = "Allow"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:UpdateItem",
      "dynamodb:PutItem",
      "dynamodb:ConditionCheckItem", # for TransactWriteItems, see the api policy
    ]
    resources = [aws_dynamodb_table.transactions.arn]
  }

  statement {
    sid    = "ConsumeSignQueue"
    effect = "Allow"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ChangeMessageVisibility",
    ]
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

# broadcaster: consume the broadcast queue, send its own follow-ups to it
# (delayed retries), update the transaction's status.
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
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ChangeMessageVisibility",
      "sqs:SendMessage",
    ]
    resources = [aws_sqs_queue.broadcast.arn]
  }
}
