# Plan-time warnings about settings that deploy but would not behave as meant.

# A message that keeps failing must reach its dead-letter queue (and so the
# dead-letter function and needs_review) before the source queue's retention
# drops it. The sweeper would still find its transaction, but silently.
check "retries_fit_in_queue_retention" {
  assert {
    condition     = local.backoff_total_seconds + var.max_attempts * local.sign_queue_visibility_seconds < local.queue_retention_seconds
    error_message = "max_attempts with this backoff can outlast the sign queue's retention (${local.queue_retention_seconds} s): failing messages may expire before they are dead-lettered. Lower max_attempts or backoff_cap_seconds."
  }

  assert {
    condition     = local.backoff_total_seconds + var.max_attempts * local.broadcast_queue_visibility_seconds < local.queue_retention_seconds
    error_message = "max_attempts with this backoff can outlast the broadcast queue's retention (${local.queue_retention_seconds} s): failing messages may expire before they are dead-lettered. Lower max_attempts or backoff_cap_seconds."
  }
}

# Retention counts from a message's first enqueue, also in the DLQ.
check "dead_letters_outlive_their_source" {
  assert {
    condition     = local.dlq_retention_seconds > local.queue_retention_seconds
    error_message = "The dead-letter queues must retain messages longer than the sign and broadcast queues."
  }
}
