# The operators' dashboard (CloudWatch): the pipeline's progress per chain, the
# time between its stages, the queues' depth and age, webhook deliveries, and
# every alarm.
#
# The progress metrics are published by the notifier from the table's stream as
# embedded metric format lines (shared/src/metrics.rs, `Progress`): no API call,
# no extra permission. tools/infra-check holds the names below to the code's.

locals {
  # shared/src/metrics.rs's NAMESPACE, which the alarms also read.
  metrics_namespace = "TxBroadcaster"

  # Counts per chain (`ChainId`), summed per minute: steps taken (a transaction confirmed again
  # after a reorg counts twice; `Retries` counts waits for funds or fees too).
  progress_counts = [
    "Accepted", "Withdrawn", "Signed", "Broadcast", "Confirmed", "Reverted", "NeedsReview",
    "Retries", "Replacements", "OperatorRetries", "NoncesLost", "Reorgs",
  ]
  # The time between stages, in seconds, per chain: shown as p50 and p99.
  progress_seconds = [
    "AcceptedToSignedSeconds", "SignedToBroadcastSeconds", "BroadcastToConfirmedSeconds",
  ]
  # The webhooks function's: attempts by `Outcome` (delivered, failed, gave_up, refused,
  # skipped), and each attempt's latency in milliseconds (shared/src/metrics.rs,
  # `WEBHOOK_METRICS`).
  webhook_metrics = ["WebhookDeliveries", "WebhookLatency"]


  # Every alarm of the deployment, whatever made it.
  dashboard_alarms = concat(
    [for alarm in aws_cloudwatch_metric_alarm.dead_letters : alarm.arn],
    [for alarm in aws_cloudwatch_metric_alarm.oldest_message : alarm.arn],
    [for alarm in aws_cloudwatch_metric_alarm.function_errors : alarm.arn],
    [for alarm in aws_cloudwatch_metric_alarm.function_throttles : alarm.arn],
    [aws_cloudwatch_metric_alarm.client_api_5xx.arn],
    [aws_cloudwatch_metric_alarm.admin_api_5xx.arn],
    [aws_cloudwatch_metric_alarm.notifier_iterator_age.arn],
    [for alarm in aws_cloudwatch_metric_alarm.signer_balance : alarm.arn],
    [aws_cloudwatch_metric_alarm.transactions_need_review.arn],
    [for alarm in aws_cloudwatch_metric_alarm.nonce_stalled : alarm.arn],
    [for alarm in aws_cloudwatch_metric_alarm.lane_paused : alarm.arn],
    [aws_cloudwatch_metric_alarm.transactions_waiting.arn],
    [aws_cloudwatch_metric_alarm.webhook_dead_letters.arn],
    [aws_cloudwatch_metric_alarm.webhook_in_flight.arn],
    [aws_cloudwatch_metric_alarm.webhook_events_dropped.arn],
    [aws_cloudwatch_metric_alarm.webhook_fan_out_behind.arn],
  )

  # One metric search per name: every chain's series at once, whichever chains
  # the map declares now or did before.
  progress_search = { for name in concat(local.progress_counts, local.progress_seconds) :
    name => "SEARCH('{${local.metrics_namespace},ChainId} MetricName=\"${name}\"', '%s', 60)"
  }

  dashboard_widgets = concat(
    [
      {
        type   = "metric"
        x      = 0
        y      = 0
        width  = 24
        height = 6
        properties = {
          title   = "Pipeline steps per minute, by chain"
          region  = data.aws_region.current.name
          view    = "timeSeries"
          stacked = false
          metrics = [for i, name in local.progress_counts : [{
            id         = "c${i}"
            label      = name
            expression = format(local.progress_search[name], "Sum")
          }]]
        }
      },
    ],
    [for i, name in local.progress_seconds : {
      type   = "metric"
      x      = 8 * i
      y      = 6
      width  = 8
      height = 6
      properties = {
        title  = "${name} (p50, p99), by chain"
        region = data.aws_region.current.name
        view   = "timeSeries"
        metrics = [
          [{ id = "p50", label = "p50", expression = format(local.progress_search[name], "p50") }],
          [{ id = "p99", label = "p99", expression = format(local.progress_search[name], "p99") }],
        ]
      }
    }],
    [
      {
        type   = "metric"
        x      = 0
        y      = 12
        width  = 12
        height = 6
        properties = {
          title  = "Queue depth (visible messages)"
          region = data.aws_region.current.name
          view   = "timeSeries"
          stat   = "Maximum"
          period = 60
          metrics = [for name, queue in local.working_queues :
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, { label = name }]]
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 12
        width  = 12
        height = 6
        properties = {
          title  = "Age of the oldest message (s)"
          region = data.aws_region.current.name
          view   = "timeSeries"
          stat   = "Maximum"
          period = 60
          metrics = [for name, queue in local.working_queues :
          ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue, { label = name }]]
        }
      },
      {
        # The dead-letter function keeps every message, hidden between its reads: visible
        # plus hidden, as the alarm counts them.
        type   = "metric"
        x      = 0
        y      = 18
        width  = 24
        height = 6
        properties = {
          title  = "Dead-letter queues (messages, visible + hidden)"
          region = data.aws_region.current.name
          view   = "timeSeries"
          stat   = "Maximum"
          period = 60
          metrics = flatten([for name, queue in local.dead_letter_queues : [
            [{ id = "d${name}", label = "${name}-dlq", expression = "v${name} + h${name}" }],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, { id = "v${name}", visible = false }],
            ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", queue, { id = "h${name}", visible = false }],
          ]])
        }
      },
    ],
    [
      {
        type   = "metric"
        x      = 0
        y      = 24
        width  = 8
        height = 6
        properties = {
          title  = "Webhook attempts per minute, by outcome"
          region = data.aws_region.current.name
          view   = "timeSeries"
          metrics = [[{
            id         = "w"
            expression = "SEARCH('{${local.metrics_namespace},Outcome} MetricName=\"${local.webhook_metrics[0]}\"', 'Sum', 60)"
          }]]
        }
      },
      {
        type   = "metric"
        x      = 8
        y      = 24
        width  = 8
        height = 6
        properties = {
          title  = "Webhook endpoints' answer time (ms, p50, p99)"
          region = data.aws_region.current.name
          view   = "timeSeries"
          period = 60
          metrics = [
            [local.metrics_namespace, local.webhook_metrics[1], { stat = "p50" }],
            [local.metrics_namespace, local.webhook_metrics[1], { stat = "p99" }],
          ]
        }
      },
      {
        type   = "metric"
        x      = 16
        y      = 24
        width  = 8
        height = 6
        properties = {
          title  = "Webhook queue: waiting, oldest (s), dead letters"
          region = data.aws_region.current.name
          view   = "timeSeries"
          stat   = "Maximum"
          period = 60
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.webhooks.name, { label = "waiting" }],
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", aws_sqs_queue.webhooks.name, { label = "oldest (s)", yAxis = "right" }],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.webhooks_dlq.name, { label = "dead letters" }],
          ]
        }
      },
    ],
    # An alarm widget shows at most 100 alarms.
    [for i, alarms in chunklist(local.dashboard_alarms, 100) : {
      type   = "alarm"
      x      = 0
      y      = 30 + 6 * i
      width  = 24
      height = 6
      properties = {
        title  = "Alarms"
        alarms = alarms
      }
    }],
  )
}

resource "aws_cloudwatch_dashboard" "pipeline" {
  dashboard_name = "${local.prefix}-pipeline"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
