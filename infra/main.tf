data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  prefix = var.name_prefix

  # Consumer timeouts drive the queues' visibility timeouts: AWS asks for at
  # least 6x the function timeout on an SQS event source, so a message is not
  # redelivered while a (retried) invocation still holds it.
  function_timeouts = {
    api         = 29 # API Gateway's integration limit is 30 s
    signer      = 60
    broadcaster = 90
  }
  sign_queue_visibility_seconds      = 6 * local.function_timeouts.signer
  broadcast_queue_visibility_seconds = 6 * local.function_timeouts.broadcaster

  # Redrive to the dead-letter queue after this many receives.
  max_receive_count = 10

  # Map and list settings travel as flat strings; the code splits on ';'.
  # A for-expression over a map iterates in key order, so the string is stable.
  target_contracts      = join(";", [for sig, addr in var.target_contracts : "${sig}=${addr}"])
  allowed_message_types = join(";", var.allowed_message_types)
}
