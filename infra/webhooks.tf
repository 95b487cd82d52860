# Webhooks: each client's endpoints are told of its transactions' events.
#
# The table's stream -> the webhooks function (fan-out: each event kept in its
# transaction's delivery log, one message per endpoint) -> the webhook queue ->
# the webhooks function (delivery: signed, posted to a public address only,
# logged; failures back off through the message's visibility) -> after
# webhook_max_attempts, the webhook dead-letter queue (alarmed). An operator
# re-delivers from the log (POST /admin/transactions/{id}/redeliver), never
# from the dead letters, which only keep what failed for inspection.
#
# Nothing here is on the pipeline's path: the fan-out reads the stream through
# its own event source mapping, retried apart from the notifier's, and a slow
# endpoint holds its own messages and one of webhook_max_concurrency
# invocations.

locals {
  webhook_backoff_environment = {
    BACKOFF_BASE_SECONDS = tostring(var.webhook_backoff_base_seconds)
    BACKOFF_FACTOR       = tostring(var.webhook_backoff_factor)
    BACKOFF_CAP_SECONDS  = tostring(var.webhook_backoff_cap_seconds)
    MAX_ATTEMPTS         = tostring(var.webhook_max_attempts)
  }

  webhook_queue_visibility_seconds = 6 * local.function_timeouts.webhooks

  # Worst case before a failing delivery's last attempt, as for the pipeline's
  # queues (main.tf): every retry waits its full ceiling.
  webhook_backoff_total_seconds = sum(concat([0], [
    for attempt in range(1, var.webhook_max_attempts) :
    min(var.webhook_backoff_cap_seconds, var.webhook_backoff_base_seconds * pow(var.webhook_backoff_factor, attempt - 1))
  ]))
}

# A delivery that keeps failing must reach the webhook dead-letter queue (and
# its alarm) before the queue's retention drops it unseen.
check "webhook_retries_fit_in_queue_retention" {
  assert {
    condition     = local.webhook_backoff_total_seconds + var.webhook_max_attempts * local.webhook_queue_visibility_seconds < local.queue_retention_seconds
    error_message = "webhook_max_attempts with this backoff can outlast the webhook queue's retention (${local.queue_retention_seconds} s): failing deliveries may expire before they are dead-lettered. Lower webhook_max_attempts or webhook_backoff_cap_seconds."
  }
}

# Endpoints (with their signing secrets) and delivery logs: a table of their
# own. It has no stream (a delivery log's writes never reach the pipeline's
# stream consumers, nor compete with its items' throughput), and only the api
# and the webhooks function may touch it: no other role can read a secret.
resource "aws_dynamodb_table" "webhooks" {
  name                        = "${local.prefix}-webhooks"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  # As the main table's: an item given an expiry is deleted after it.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
}

resource "aws_sqs_queue" "webhooks_dlq" {
  name                              = "${local.prefix}-webhooks-dlq"
  visibility_timeout_seconds        = local.dlq_visibility_seconds
  message_retention_seconds         = local.dlq_retention_seconds
  kms_master_key_id                 = aws_kms_key.data.arn
  kms_data_key_reuse_period_seconds = local.queue_data_key_reuse_seconds
}

resource "aws_sqs_queue" "webhooks" {
  name                              = "${local.prefix}-webhooks"
  visibility_timeout_seconds        = local.webhook_queue_visibility_seconds
  message_retention_seconds         = local.queue_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = aws_kms_key.data.arn
  kms_data_key_reuse_period_seconds = local.queue_data_key_reuse_seconds

  # maxReceiveCount is the webhooks function's MAX_ATTEMPTS (one variable drives both).
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.webhooks_dlq.arn
    maxReceiveCount     = var.webhook_max_attempts
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "webhooks_dlq" {
  queue_url = aws_sqs_queue.webhooks_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.webhooks.arn]
  })
}

# The table's stream -> the fan-out. Every event must reach the queue: a
# failing batch is split to find the failing record and retried until it
# succeeds or its records leave the stream (24 hours); the fan-out-behind
# alarm fires long before. Only transactions' changes invoke it.
resource "aws_lambda_event_source_mapping" "webhooks_stream" {
  event_source_arn                   = aws_dynamodb_table.transactions.stream_arn
  function_name                      = aws_lambda_function.function["webhooks"].arn
  starting_position                  = "TRIM_HORIZON"
  # A batch's messages are held at once (an event's body per endpoint): 20
  # records of up to 100 KB events, two events each, ten endpoints, stay far
  # below the function's memory.
  batch_size                         = 20
  maximum_batching_window_in_seconds = 1
  function_response_types            = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = -1
  maximum_record_age_in_seconds      = -1
  parallelization_factor             = 1

  filter_criteria {
    filter {
      pattern = jsonencode({ dynamodb = { Keys = { pk = { S = [{ prefix = "TX#" }] } } } })
    }
  }
}

# The webhook queue -> the deliverer: failures reported per message.
resource "aws_lambda_event_source_mapping" "webhooks" {
  event_source_arn        = aws_sqs_queue.webhooks.arn
  function_name           = aws_lambda_function.function["webhooks"].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.webhook_max_concurrency
  }
}

# webhooks: read the table's stream (the fan-out's mapping), read a
# transaction (TX#), read the clients' endpoints (HOOKS#, webhook table), keep
# events and attempts in the delivery logs (HOOKLOG#, webhook table), queue
# deliveries and consume the webhook queue, backing off its failed messages.
data "aws_iam_policy_document" "webhooks" {
  source_policy_documents = [
    data.aws_iam_policy_document.common["webhooks"].json,
    data.aws_iam_policy_document.read_table_stream.json,
  ]

  # A transaction whose stream image this release can't read.
  statement {
    sid       = "ReadTransactions"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem"]
    resources = [aws_dynamodb_table.transactions.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["TX#*"]
    }
  }

  statement {
    sid       = "ReadEndpoints"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem"]
    resources = [aws_dynamodb_table.webhooks.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["HOOKS#*"]
    }
  }

  statement {
    sid       = "KeepDeliveryLogs"
    effect    = "Allow"
    actions   = ["dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.webhooks.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["HOOKLOG#*"]
    }
  }

  statement {
    sid       = "QueueAndConsumeDeliveries"
    effect    = "Allow"
    actions   = concat(local.consume_queue_actions, ["sqs:SendMessage", "sqs:ChangeMessageVisibility"])
    resources = [aws_sqs_queue.webhooks.arn]
  }
}

# A delivery whose last attempt failed: its endpoint has been failing for
# about a day and a half. The client sees every attempt in the delivery log;
# an operator re-delivers once the endpoint works (the message here is only
# kept for inspection, 14 days). Alarmed when the dead letters grow, not while
# they are there: the alarm clears, and the next failing endpoint is told.
resource "aws_cloudwatch_metric_alarm" "webhook_dead_letters" {
  alarm_name          = "${local.prefix}-webhooks-dlq-growing"
  alarm_description   = "A webhook delivery failed its last attempt: a client's endpoint has been failing for its whole retry window. GET /transactions/{id}/deliveries shows the attempts; POST /admin/transactions/{id}/redeliver sends again once it works."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  # The deliverer's own count of last attempts, or the dead letters growing (a
  # message that died with its invocation is dead-lettered without one). An
  # idle queue publishes no metrics: FILL makes its first dead letter a rise
  # from 0 rather than a first datapoint DIFF can't compare.
  metric_query {
    id          = "arrivals"
    expression  = "MAX([DIFF(FILL(messages, 0)), FILL(gave_up, 0)])"
    label       = "Deliveries that gave up"
    return_data = true
  }

  metric_query {
    id = "messages"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.webhooks_dlq.name }
      period      = 300
      stat        = "Maximum"
    }
  }

  metric_query {
    id = "gave_up"
    metric {
      namespace   = local.metrics_namespace
      metric_name = local.webhook_metrics[0]
      dimensions  = { Outcome = "gave_up" }
      period      = 300
      stat        = "Sum"
    }
  }
}

# Messages backing off are in flight (hidden) until their next attempt; SQS
# holds at most 120,000 in flight per queue, and past that receives come back
# empty for every client. Half of it: endpoints failing at scale (one client's
# with many events, or many clients'), to look at before it binds.
resource "aws_cloudwatch_metric_alarm" "webhook_in_flight" {
  alarm_name          = "${local.prefix}-webhooks-in-flight"
  alarm_description   = "Over 60,000 webhook deliveries are waiting to be retried (SQS's in-flight limit is 120,000, past which no client's webhooks are received): the webhooks function's log lines (outcome failed) name each failing endpoint and its client; have the client fix or remove it (a removed endpoint's waiting deliveries are skipped at their next attempt)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesNotVisible"
  dimensions          = { QueueName = aws_sqs_queue.webhooks.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 60000
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# An event that could never be delivered as it is (a client's endpoints that no
# longer read, a message SQS refuses): dropped so it holds back nothing else.
resource "aws_cloudwatch_metric_alarm" "webhook_events_dropped" {
  alarm_name          = "${local.prefix}-webhooks-dropped"
  alarm_description   = "The webhook fan-out dropped an event it could never deliver as it is; its log line (\"dropped\") names the transaction and why."
  namespace           = local.metrics_namespace
  metric_name         = local.webhook_metrics[0]
  dimensions          = { Outcome = "dropped" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# The fan-out is stuck on the stream (a batch that keeps failing): events wait,
# and are lost when their records leave the stream after 24 hours.
resource "aws_cloudwatch_metric_alarm" "webhook_fan_out_behind" {
  alarm_name          = "${local.prefix}-webhooks-behind"
  alarm_description   = "The webhook fan-out is over five minutes behind the table's stream: events are not being queued (its logs say why); past 24 hours they are lost."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.function["webhooks"].function_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 300000
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
