# API -> SNS topic -> sign queue -> signer -> broadcast queue -> broadcaster.
# The topic decouples the API from its consumers; the queues give each stage
# retries with backoff (visibility changes) and a dead-letter queue, which the
# dead-letter function reads. The sweeper re-publishes stuck transactions to the
# topic (unsigned) or the broadcast queue (signed).

resource "aws_sns_topic" "requests" {
  name = "${local.prefix}-requests"
  # AWS managed key; its key policy already lets this account's principals
  # publish through SNS, so the API role needs no kms:* for it.
  kms_master_key_id = "alias/aws/sns"
}

# --- sign queue ------------------------------------------------------------------

resource "aws_sqs_queue" "sign_dlq" {
  name                       = "${local.prefix}-sign-dlq"
  visibility_timeout_seconds = local.dlq_visibility_seconds
  message_retention_seconds  = local.dlq_retention_seconds
  sqs_managed_sse_enabled    = true
}

resource "aws_sqs_queue" "sign" {
  name                       = "${local.prefix}-sign"
  visibility_timeout_seconds = local.sign_queue_visibility_seconds
  message_retention_seconds  = local.queue_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  # maxReceiveCount is the functions' MAX_ATTEMPTS (one variable drives both).
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.sign_dlq.arn
    maxReceiveCount     = var.max_attempts
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "sign_dlq" {
  queue_url = aws_sqs_queue.sign_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.sign.arn]
  })
}

data "aws_iam_policy_document" "sign_queue" {
  statement {
    sid       = "AllowRequestsTopicOnly"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.sign.arn]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.requests.arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.sign.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "sign" {
  queue_url = aws_sqs_queue.sign.id
  policy    = data.aws_iam_policy_document.sign_queue.json
}

resource "aws_sns_topic_subscription" "sign" {
  topic_arn = aws_sns_topic.requests.arn
  protocol  = "sqs"
  endpoint  = aws_sqs_queue.sign.arn
  # The signer reads the API's message body as is, without the SNS envelope.
  raw_message_delivery = true

  # SNS checks the queue policy when it first delivers.
  depends_on = [aws_sqs_queue_policy.sign]
}

# --- broadcast queue ---------------------------------------------------------------

resource "aws_sqs_queue" "broadcast_dlq" {
  name                       = "${local.prefix}-broadcast-dlq"
  visibility_timeout_seconds = local.dlq_visibility_seconds
  message_retention_seconds  = local.dlq_retention_seconds
  sqs_managed_sse_enabled    = true
}

resource "aws_sqs_queue" "broadcast" {
  name                       = "${local.prefix}-broadcast"
  visibility_timeout_seconds = local.broadcast_queue_visibility_seconds
  message_retention_seconds  = local.queue_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  # maxReceiveCount is the functions' MAX_ATTEMPTS (one variable drives both).
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.broadcast_dlq.arn
    maxReceiveCount     = var.max_attempts
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "broadcast_dlq" {
  queue_url = aws_sqs_queue.broadcast_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.broadcast.arn]
  })
}
