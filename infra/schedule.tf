# The sweeper runs on an EventBridge Scheduler schedule. Each run is a full
# sweep and its event carries nothing, so a missed or failed run needs no
# retry: the next one does the same work.

locals {
  sweeper_schedule_name  = "${local.prefix}-sweeper"
  sweeper_schedule_group = "default"
}

resource "aws_scheduler_schedule" "sweeper" {
  name                = local.sweeper_schedule_name
  group_name          = local.sweeper_schedule_group
  description         = "Runs the ${local.prefix} sweeper"
  schedule_expression = var.sweep_schedule
  state               = "ENABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.function["sweeper"].arn
    role_arn = aws_iam_role.sweeper_schedule.arn
    input    = jsonencode({})

    retry_policy {
      maximum_retry_attempts       = 0
      maximum_event_age_in_seconds = 60
    }
  }

  # So the first run can already invoke.
  depends_on = [aws_iam_role_policy.sweeper_schedule]
}

# The schedule invokes asynchronously; Lambda would retry a failed sweep twice
# on its own, on top of the next scheduled run.
resource "aws_lambda_function_event_invoke_config" "sweeper" {
  function_name                = aws_lambda_function.function["sweeper"].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}

# The schedule's own role: invoke the sweeper, nothing else.
data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }

    # Built from the name: referring to the schedule's ARN would be a cycle.
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:scheduler:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:schedule/${local.sweeper_schedule_group}/${local.sweeper_schedule_name}"]
    }
  }
}

resource "aws_iam_role" "sweeper_schedule" {
  name               = "${local.prefix}-sweeper-schedule"
  description        = "Lets the ${local.prefix} sweeper schedule invoke the sweeper"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "sweeper_schedule" {
  statement {
    sid       = "InvokeSweeper"
    effect    = "Allow"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.function["sweeper"].arn]
  }
}

resource "aws_iam_role_policy" "sweeper_schedule" {
  name   = "${local.prefix}-sweeper-schedule"
  role   = aws_iam_role.sweeper_schedule.id
  policy = data.aws_iam_policy_document.sweeper_schedule.json
}
