# API -> SNS topic -> sign queue -> signer -> broadcast queue -> broadcaster.
# The topic decouples the API from its consumers; the queues give each stage
# retries with backoff (visibility changes) and a dead-letter queue, which the
# dead-letter function reads. The sweeper re-publishes stuck transactions to the
# topic (unsigned) or the broadcast queue (signed).
#
# Each stage also has a priority queue, fed only by the admin retry: a retried
# transaction skips the backlog. It redrives to the same DLQ as the main queue,
# with the same maxReceiveCount, so the consumers' MAX_ATTEMPTS holds for both.
#
# Everything is encrypted with the data key. SQS reuses a data key for
# kms_data_key_reuse_period_seconds, so KMS sees about one call per queue and
# consumer every 5 minutes, not one per message.

locals {
  queue_data_key_reuse_seconds = 300
}

resource "aws_sns_topic" "requests" {
  name              = "${local.prefix}-requests"
  kms_master_key_id = aws_kms_key.data.arn
}

# --- sign queues --------------------------------------------------------------------

resource "aws_sqs_queue" "sign_dlq" {
  name                              = "${local.prefix}-sign-dlq"
  visibility_timeout_seconds        = local.dlq_visibility_seconds
  message_retention_seconds         = local.dlq_retention_seconds
  kms_master_key_id                 = aws_kms_key.data.arn
  kms_data_key_reuse_period_seconds = local.queue_data_key_reuse_seconds
}

resource "aws_sqs_queue" "sign" {
  name                              = "${local.prefix}-sign"
  visibility_timeout_seconds        = local.sign_queue_visibility_seconds
  message_retention_seconds         = local.queue_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = aws_kms_key.data.arn
  kms_data_key_reuse_period_seconds = local.queue_data_key_reuse_seconds

  # maxReceiveCount is the functions' MAX_ATTEMPTS (one variable drives both).
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.sign_dlq.arn
    maxReceiveCount     = var.max_attempts
  })
}

resource "aws_sqs_queue" "sign_priority" {
  name                              = "${local.prefix}-sign-priority"
  visibility_timeout_seconds        = local.sign_queue_visibility_seconds
  message_retention_seconds         = local.queue_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = aws_kms_key.data.arn
  kms_data_key_reuse_period_seconds = local.queue_data_key_reuse_seconds

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.sign_dlq.arn
    maxReceiveCount     = var.max_attempts
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "sign_dlq" {
  queue_url = aws_sqs_queue.sign_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.sign.arn, aws_sqs_queue.sign_priority.arn]
  })
}

# --- broadcast queues -----------------------------------------------------------------

resource "aws_sqs_queue" "broadcast_dlq" {
  name                              = "${local.prefix}-broadcast-dlq"
  visibility_timeout_seconds        = local.dlq_visibility_seconds
  message_retention_seconds         = local.dlq_retention_seconds
  kms_master_key_id                 = aws_kms_key.data.arn
  kms_data_key_reuse_period_seconds = local.queue_data_key_reuse_seconds
}

resource "aws_sqs_queue" "broadcast" {
  name                              = "${local.prefix}-broadcast"
  visibility_timeout_seconds        = local.broadcast_queue_visibility_seconds
  message_retention_seconds         = local.queue_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = aws_kms_key.data.arn
  kms_data_key_reuse_period_seconds = local.queue_data_key_reuse_seconds

  # maxReceiveCount is the functions' MAX_ATTEMPTS (one variable drives both).
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.broadcast_dlq.arn
    maxReceiveCount     = var.max_attempts
  })
}

resource "aws_sqs_queue" "broadcast_priority" {
  name                              = "${local.prefix}-broadcast-priority"
  visibility_timeout_seconds        = local.broadcast_queue_visibility_seconds
  message_retention_seconds         = local.queue_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = aws_kms_key.data.arn
  kms_data_key_reuse_period_seconds = local.queue_data_key_reuse_seconds

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.broadcast_dlq.arn
    maxReceiveCount     = var.max_attempts
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "broadcast_dlq" {
  queue_url = aws_sqs_queue.broadcast_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.broadcast.arn, aws_sqs_queue.broadcast_priority.arn]
  })
}

# --- queue policies ----------------------------------------------------------------------

# Every queue refuses plain HTTP. The functions reach their queues through
# their role policies (same account), so only the sign queue needs to let
# anyone else in: the requests topic, and nothing but it.
locals {
  queues = {
    sign                 = aws_sqs_queue.sign
    "sign-priority"      = aws_sqs_queue.sign_priority
    "sign-dlq"           = aws_sqs_queue.sign_dlq
    broadcast            = aws_sqs_queue.broadcast
    "broadcast-priority" = aws_sqs_queue.broadcast_priority
    "broadcast-dlq"      = aws_sqs_queue.broadcast_dlq
    webhooks             = aws_sqs_queue.webhooks
    "webhooks-dlq"       = aws_sqs_queue.webhooks_dlq
  }
}

data "aws_iam_policy_document" "queue" {
  for_each = local.queues

  dynamic "statement" {
    for_each = each.key == "sign" ? [1] : []

    content {
      sid       = "AllowRequestsTopicOnly"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [each.value.arn]

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
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value.arn]

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

resource "aws_sqs_queue_policy" "queue" {
  for_each = local.queues

  queue_url = each.value.id
  policy    = data.aws_iam_policy_document.queue[each.key].json
}

resource "aws_sns_topic_subscription" "sign" {
  topic_arn = aws_sns_topic.requests.arn
  protocol  = "sqs"
  endpoint  = aws_sqs_queue.sign.arn
  # The signer reads the API's message body as is, without the SNS envelope.
  raw_message_delivery = true

  # SNS checks the queue policy when it first delivers.
  depends_on = [aws_sqs_queue_policy.queue]
}

# The requests topic: only this account's principals may publish (the api and
# the sweeper, through their role policies), and only over TLS.
data "aws_iam_policy_document" "requests_topic" {
  statement {
    sid       = "AccountPublishesThroughIam"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.requests.arn]

    principals {
      type        = "AWS"
      identifiers = [local.account_root_arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.requests.arn]

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

resource "aws_sns_topic_policy" "requests" {
  arn    = aws_sns_topic.requests.arn
  policy = data.aws_iam_policy_document.requests_topic.json
}
