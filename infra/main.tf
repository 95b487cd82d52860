data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  prefix = var.name_prefix

  # The chains served: var.chains, or else the one chain of the single-chain
  # variables, named "default". (A for expression rather than a conditional:
  # the two sides' object types differ.)
  one_chain = {
    for name, chain in {
      default = {
        chain_id              = var.chain_id
        default               = true
        lanes                 = var.lanes
        send_to               = var.rpc_send_to
        target_contract       = var.target_contract
        target_contracts      = var.target_contracts
        allowed_message_types = null
        confirmations         = var.confirmations
        reprice_after_blocks  = var.reprice_after_blocks
        max_gas_limit         = null
        max_fee_per_gas_wei   = null
        fee_bump_percent      = null
      }
    } : name => chain if length(var.chains) == 0
  }
  chains = merge(var.chains, local.one_chain)

  # Each chain's nodes, for its secret: chain_nodes, or the one chain's
  # rpc_nodes or rpc_url.
  nodes_by_chain = merge(var.chain_nodes, {
    for name, nodes in {
      default = length(var.rpc_nodes) > 0 ? var.rpc_nodes : [{ url = var.rpc_url, label = null, weight = 1 }]
    } : name => nodes if length(var.chains) == 0
  })

  # The chain a request without `chain` goes to: the one marked default (the
  # chains' validation asks for exactly one; the one chain is its own).
  marked_default = [for name, chain in local.chains : name if chain.default]
  default_chain  = length(local.marked_default) > 0 ? local.marked_default[0] : keys(local.chains)[0]

  # The default chain's lanes have the keys aws_kms_key.signer[0..] (a one-key
  # deployment's key stays lane 1); every other chain's are
  # aws_kms_key.chain_signer["<chain id>/<lane>"].
  default_lanes = local.chains[local.default_chain].lanes
  more_lanes = {
    for lane in flatten([
      for name, chain in local.chains : [
        for i in range(chain.lanes) : { chain = name, chain_id = chain.chain_id, lane = i + 1 }
      ] if name != local.default_chain
    ]) : "${lane.chain_id}/${lane.lane}" => lane
  }
  # Every lane of every chain, by "<chain id>/<lane>": an alarm of each kind each.
  all_lanes = merge({
    for i in range(local.default_lanes) : "${local.chains[local.default_chain].chain_id}/${i + 1}" => {
      chain    = local.default_chain
      chain_id = local.chains[local.default_chain].chain_id
      lane     = i + 1
    }
  }, local.more_lanes)

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
    # A queue batch: ten deliveries at once, each resolving (3 s), connecting and
    # waiting for its endpoint's answer, plus the log writes; or a stream batch.
    webhooks = var.webhook_timeout_seconds + 30
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

  # The allowlist travels as a flat string; the code splits on ';'. It is
  # never empty (its validation): "*" alone is the explicit allow-all. A chain
  # without its own allowlist takes it.
  allowed_message_types = join(";", var.allowed_message_types)

  # The chains as the functions read them (CHAINS). No node URL is in it: each
  # chain's nodes are in its secret, named with the version written, so a
  # change of nodes changes the functions' configuration and they start anew.
  # Keys by alias (known at plan time). What a chain leaves unset is left out:
  # the code falls back to the deployment's value or the chain's default.
  chain_entries = { for name, chain in local.chains : name => merge(
    {
      id               = chain.chain_id
      default          = name == local.default_chain
      send_to          = chain.send_to
      keys             = local.chain_key_aliases[name]
      target_contract  = chain.target_contract
      target_contracts = chain.target_contracts
    },
    {
      for field, value in {
        # The one chain keeps the name the code knows its id by.
        name                  = length(var.chains) > 0 ? name : null
        allowed_message_types = chain.allowed_message_types == null ? null : join(";", chain.allowed_message_types)
        confirmations         = chain.confirmations
        reprice_after_blocks  = chain.reprice_after_blocks
        max_gas_limit         = chain.max_gas_limit
        max_fee_per_gas_wei   = chain.max_fee_per_gas_wei
        fee_bump_percent      = chain.fee_bump_percent
      } : field => value if value != null
    },
  ) }
  chains_declaration = jsonencode([for name, entry in local.chain_entries : merge(entry, {
    nodes_secret  = aws_secretsmanager_secret.nodes[name].name
    nodes_version = aws_secretsmanager_secret_version.nodes[name].version_id
  })])
  # The same, known at plan time (a version id is a UUID: 36 characters), for its size.
  chains_declaration_planned = jsonencode([for name, entry in local.chain_entries : merge(entry, {
    nodes_secret  = local.node_secret_names[name]
    nodes_version = "00000000-0000-0000-0000-000000000000"
  })])
  node_secret_names = { for name, chain in local.chains : name => "${local.prefix}/chains/${name}/nodes" }
}
