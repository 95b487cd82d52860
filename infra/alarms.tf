# CloudWatch alarms, all to one SNS topic (subscribe var.alarm_emails, or
# anything else: chat, paging). Every alarm also notifies when it clears.
#
# - any message in a dead-letter queue: a transaction needs review;
# - any transaction entering needs_review, by any path;
# - the oldest message of a sign or broadcast queue is too old: a stage is
#   stuck or starved;
# - any function error or throttle;
# - the APIs answer 5xx;
# - the notifier falls behind the table's stream;
# - the signer address runs low on funds (reported as it signs);
# - the signing account is stalled at a nonce the watchdog cannot repair;
# - transactions have been waiting for 15 minutes (for funds, for fees to fall under the
#   cap, or for the node to serve the configured chain): they are not failing, and they are
#   not moving either.

resource "aws_sns_topic" "alarms" {
  name              = "${local.prefix}-alarms"
  kms_master_key_id = aws_kms_key.data.arn
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "CloudWatchAlarmsPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "AccountManagesThroughIam"
    effect    = "Allow"
    actions   = ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "AWS"
      identifiers = [local.account_root_arn]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]

  dead_letter_queues = {
    sign      = aws_sqs_queue.sign_dlq.name
    broadcast = aws_sqs_queue.broadcast_dlq.name
  }

  working_queues = {
    sign                 = aws_sqs_queue.sign.name
    "sign-priority"      = aws_sqs_queue.sign_priority.name
    broadcast            = aws_sqs_queue.broadcast.name
    "broadcast-priority" = aws_sqs_queue.broadcast_priority.name
  }
}

# The dead-letter function keeps every message, hidden between its reads: count
# the hidden ones too, or the alarm would clear while the message is still there.
resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each = local.dead_letter_queues

  alarm_name          = "${local.prefix}-${each.key}-dlq-not-empty"
  alarm_description   = "A message reached the ${each.key} dead-letter queue: its transaction needs review (GET /transactions?status=needs_review)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "messages"
    expression  = "visible + hidden"
    label       = "Messages in the DLQ"
    return_data = true
  }

  metric_query {
    id = "visible"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = each.value }
      period      = 300
      stat        = "Maximum"
    }
  }

  metric_query {
    id = "hidden"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesNotVisible"
      dimensions  = { QueueName = each.value }
      period      = 300
      stat        = "Maximum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "oldest_message" {
  for_each = local.working_queues

  alarm_name          = "${local.prefix}-${each.key}-oldest-message"
  alarm_description   = "The oldest message of the ${each.key} queue is over ${var.queue_age_alarm_seconds} s old: its consumer is failing, throttled or too slow."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.queue_age_alarm_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = local.function_timeouts

  alarm_name          = "${local.prefix}-${each.key}-errors"
  alarm_description   = "The ${each.key} function failed (an invocation error, not a record it reported for retry)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.function[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  for_each = local.function_timeouts

  alarm_name          = "${local.prefix}-${each.key}-throttles"
  alarm_description   = "The ${each.key} function was throttled: the account's concurrency is exhausted."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.function[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "client_api_5xx" {
  alarm_name          = "${local.prefix}-api-5xx"
  alarm_description   = "The client API answered 5xx (503 when DynamoDB, SNS or KMS is unavailable)."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5XXError"
  dimensions          = { ApiName = aws_api_gateway_rest_api.client.name, Stage = aws_api_gateway_stage.client.stage_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.api_5xx_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "admin_api_5xx" {
  alarm_name          = "${local.prefix}-admin-5xx"
  alarm_description   = "The operator API (status page, reads, retries) answered 5xx."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5xx"
  dimensions          = { ApiId = aws_apigatewayv2_api.admin.id, Stage = aws_apigatewayv2_stage.admin.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.api_5xx_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "notifier_iterator_age" {
  alarm_name          = "${local.prefix}-notifier-behind"
  alarm_description   = "The notifier is over a minute behind the table's stream: the status page's live updates lag."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.function["notifier"].function_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 60000
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

locals {
  # An alarm per lane, named as before chains for the default chain's (none for
  # lane 1, "-lane-N" after), "-chain-<id>-lane-N" for another chain's.
  lane_alarm_suffix = {
    for key, lane in local.all_lanes : key => lane.chain == local.default_chain ? (lane.lane == 1 ? "" : "-lane-${lane.lane}") : "-chain-${lane.chain_id}-lane-${lane.lane}"
  }
}

# The nonce watchdog (the sweeper's schedule) publishes each lane's balance, in
# ether, every minute (an embedded-metric-format log line, so no PutMetricData
# permission), by chain and lane. Below the threshold the lane soon can't pay
# for gas (under the caps' cost it takes no new work). No report for an hour
# means nobody watches the lane: that is an alarm too (docs/deploy.md, "The
# balance alarm").
resource "aws_cloudwatch_metric_alarm" "signer_balance" {
  for_each            = local.all_lanes
  alarm_name          = "${local.prefix}-signer-balance-low${local.lane_alarm_suffix[each.key]}"
  alarm_description   = "Lane ${each.value.lane}'s signer address holds under ${var.low_balance_alarm_ether} ether on chain ${each.value.chain_id}. Fund the address (GET /health lists the lanes): the lane takes no new work while it can't pay at the caps."
  namespace           = "TxBroadcaster"
  metric_name         = "SignerBalanceEther"
  dimensions          = { ChainId = tostring(each.value.chain_id), Lane = tostring(each.value.lane) }
  statistic           = "Minimum"
  period              = 3600
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = var.low_balance_alarm_ether
  # The watchdog reports every minute, idle or not: no data means the schedule stopped.
  treat_missing_data = "breaching"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
}

# Every move into needs_review, whatever made it (the dead-letter queue, a
# permanent refusal, the attempt cap), is counted by the notifier from the
# table's stream: each transaction there waits for a human.
resource "aws_cloudwatch_metric_alarm" "transactions_need_review" {
  alarm_name          = "${local.prefix}-transactions-need-review"
  alarm_description   = "A transaction entered needs_review: an operator must look at it (its last_error says why) and retry it or leave it. The notifier's log line names it."
  namespace           = "TxBroadcaster"
  metric_name         = "TransactionsNeedingReview"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# The nonce watchdog (the sweeper's schedule) reports NonceStalled when the
# nonce the chain waits for is held by a transaction under review, has not
# been mined 15 minutes after it was signed, or is a hole it could not fill:
# every later transaction waits behind it. One report is enough.
resource "aws_cloudwatch_metric_alarm" "nonce_stalled" {
  for_each            = local.all_lanes
  alarm_name          = "${local.prefix}-nonce-stalled${local.lane_alarm_suffix[each.key]}"
  alarm_description   = "Lane ${each.value.lane}'s account on chain ${each.value.chain_id} is stalled at a nonce the watchdog cannot repair; its later transactions wait behind it, and it takes no new work. The sweeper's log line (stall_reason, nonce, transaction_id) says which: retry or inspect that transaction."
  namespace           = "TxBroadcaster"
  metric_name         = "NonceStalled"
  dimensions          = { ChainId = tostring(each.value.chain_id), Lane = tostring(each.value.lane) }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# A lane the watchdog finds stalled or underfunded (its balance can't pay one
# transaction at the spend caps) takes no new work: the other lanes carry the
# load, so nothing else would say so. One report is enough.
resource "aws_cloudwatch_metric_alarm" "lane_paused" {
  for_each            = local.all_lanes
  alarm_name          = "${local.prefix}-lane-paused${local.lane_alarm_suffix[each.key]}"
  alarm_description   = "Lane ${each.value.lane} on chain ${each.value.chain_id} is stalled (see its nonce-stalled alarm) or underfunded (it can't pay max_gas_limit x max_fee_per_gas_wei): with several lanes it takes no new work, alone its transactions wait behind it. The sweeper's log line (lane_state, signer_address) says which; fund or repair it (GET /health lists the lanes)."
  namespace           = "TxBroadcaster"
  metric_name         = "LanePaused"
  dimensions          = { ChainId = tostring(each.value.chain_id), Lane = tostring(each.value.lane) }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Waits (insufficient funds, fees above MAX_FEE_PER_GAS_WEI) do not fail and do not use up
# deliveries, so neither the DLQ nor the queue-age alarm sees them: this one does. Each wait
# check reports one TxBroadcaster/TransactionsWaiting (with its reason in the log line).
resource "aws_cloudwatch_metric_alarm" "transactions_waiting" {
  alarm_name          = "${local.prefix}-transactions-waiting"
  alarm_description   = "Transactions have been waiting for 15 minutes: for the signer to be funded (insufficient_funds), for fees to fall under max_fee_per_gas_wei (fee_above_cap), for a chain's nodes to serve its id (chain_id_mismatch), for a chain no longer declared (chain_not_served: declare it again), for a lane to open (no_lane_open: every lane stalled or underfunded), for a removed lane's key (lane_key_missing), or for room in the node's pool (pool_full, a lane's share of it full for 15 minutes). Their last_error or the log line says which; fund the signer, raise the cap, fix the chain's nodes or id, repair a lane, or restore the key or the chain."
  namespace           = "TxBroadcaster"
  metric_name         = "TransactionsWaiting"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
