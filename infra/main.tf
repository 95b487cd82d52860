data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  prefix = var.name_prefix

  # Unset, the broadcaster waits the chain's default depth (the code's table).
  confirmations_environment = var.confirmations == null ? {} : {
    CONFIRMATIONS = tostring(var.confirmations)
  }
  # The chain's nodes, as the functions read them (RPC_NODES): rpc_nodes, or the
  # one rpc_url.
  node_environment = {
    RPC_NODES = jsonencode(length(var.rpc_nodes) > 0 ? var.rpc_nodes : [
      { url = var.rpc_url, label = null, weight = 1 }
    ])
    RPC_SEND_TO = tostring(var.rpc_send_to)
  }

  # Likewise the blocks a bid may stay pending before a low tip is re-priced.
  reprice_environment = var.reprice_after_blocks == null ? {} : {
    REPRICE_AFTER_BLOCKS = tostring(var.reprice_after_blocks)
  }

  # The node's slowest answer we wait for, in whole seconds.
  rpc_timeout_seconds = ceil(var.rpc_timeout_ms / 1000)

  # How many node calls one record makes in a row, at most, on its usual paths
  # (the code's constants say which): the signer checks the chain and plans;
  # the broadcaster's longest path is a "nonce too low" decided on chain. The
  # sweeper's watchdog fills (plan, send) after its 60 s budget for starting
  # repairs. Each timeout covers those calls at the node's timeout plus the AWS
  # calls around them; a record that still can't finish is returned as failed
  # before the deadline (the Lambda context's), never taking its batch along.
  # tools/infra-check checks these relations.
  node_calls_per_record = {
    signer      = 4  # signer::NODE_CALLS_PER_RECORD
    broadcaster = 12 # broadcaster::NODE_CALLS_PER_RECORD
    sweeper     = 5  # sweeper::watchdog::NODE_CALLS_PER_REPAIR
  }

  # One entry per crate in functions/ (the key is the binary name, and so the
  # directory of its zip under var.lambda_zip_dir).
  function_timeouts = {
    api           = 29 # the REST API's integration limit is 29 s
    signer        = local.node_calls_per_record.signer * local.rpc_timeout_seconds + 15
    broadcaster   = local.node_calls_per_record.broadcaster * local.rpc_timeout_seconds + 15
    "dead-letter" = 30
    # The sweep, then the watchdog (60 s to start repairs, then the last repair's
    # calls). It may overlap the next run of a 1-minute schedule: every stage is
    # idempotent.
    sweeper  = 90 + local.node_calls_per_record.sweeper * local.rpc_timeout_seconds
    retry    = 29 # behind the admin HTTP API (30 s limit); it calls no node
    notifier = 30 # DynamoDB stream batches and WebSocket connects
  }

  # Consumer timeouts drive the queues' visibility timeouts: AWS asks for at
  # least 6x the function timeout on an SQS event source, so a message is not
  # redelivered while a (retried) invocation still holds it. Retries set their
  # own, backed-off visibility per message (ChangeMessageVisibility); this
  # default only applies to a delivery in flight or one whose consumer died.
  # The priority queues have the same consumers, and so the same visibility.
  sign_queue_visibility_seconds      = 6 * local.function_timeouts.signer
  broadcast_queue_visibility_seconds = 6 * local.function_timeouts.broadcaster

  # The dead-letter consumer keeps every message on purpose (it reports each
  # record as failed), so a kept message comes back after this long: twice a
  # day, the most SQS allows. Far above 6x the consumer's 30 s timeout.
  dlq_visibility_seconds = 43200

  # A message moved to a DLQ keeps its original enqueue time, and retention
  # counts from it: the DLQs must keep messages longer than the source queues
  # (main and priority alike).
  queue_retention_seconds = 345600  # 4 days
  dlq_retention_seconds   = 1209600 # 14 days, the maximum: time to investigate

  # Worst case a message spends in a source queue before its last delivery:
  # every retry waits its full backoff ceiling (the code draws the delay in
  # [0, ceiling]) and every attempt may hold the message for a whole default
  # visibility timeout. Checked against the retention in checks.tf.
  backoff_ceilings_seconds = [
    for attempt in range(1, var.max_attempts) :
    min(var.backoff_cap_seconds, var.backoff_base_seconds * pow(var.backoff_factor, attempt - 1))
  ]
  backoff_total_seconds = sum(concat([0], local.backoff_ceilings_seconds))

  # Map and list settings travel as flat strings; the code splits on ';'.
  # A for-expression over a map iterates in key order, so the string is stable.
  # allowed_message_types is never empty (its validation): "*" alone is the
  # explicit allow-all.
  target_contracts      = join(";", [for sig, addr in var.target_contracts : "${sig}=${addr}"])
  allowed_message_types = join(";", var.allowed_message_types)
}
