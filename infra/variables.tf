variable "name_prefix" {
  description = "Prefix of every resource name (table, topic, queues, key alias, functions)."
  type        = string
  default     = "tx-broadcaster"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-40 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "aws_region" {
  description = "AWS region to deploy to; null uses the provider's default (AWS_REGION, profile)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "chains" {
  description = <<-EOT
    The chains served, by name (lowercase; a request may name its chain by it or by its id).
    Each: chain_id; default (the chain of a request without `chain`: the one marked, else the
    first by name); lanes (its signing keys, each a KMS key with its own address and nonces);
    send_to (how many of its nodes each signed transaction goes to); target_contract and
    target_contracts (signature => address); and optionally allowed_message_types,
    confirmations, reprice_after_blocks, max_gas_limit, max_fee_per_gas_wei and
    fee_bump_percent, which otherwise are the deployment's (or the chain's defaults). Its nodes
    are in chain_nodes, kept in Secrets Manager. Empty: the one chain of chain_id, rpc_url or
    rpc_nodes, lanes, target_contract and the other single-chain variables.
  EOT
  type = map(object({
    chain_id              = number
    default               = optional(bool, false)
    lanes                 = optional(number, 1)
    send_to               = optional(number, 1)
    target_contract       = string
    target_contracts      = optional(map(string), {})
    allowed_message_types = optional(list(string))
    confirmations         = optional(number)
    reprice_after_blocks  = optional(number)
    max_gas_limit         = optional(number)
    max_fee_per_gas_wei   = optional(number)
    fee_bump_percent      = optional(number)
  }))
  default = {}

  validation {
    # The default chain owns the first keys (aws_kms_key.signer): it is named, never inferred,
    # so adding a chain can't move the default (and its keys) to another chain.
    condition     = length(var.chains) == 0 || (length(var.chains) <= 16 && length([for name, chain in var.chains : name if chain.default]) == 1)
    error_message = "chains: at most 16, and exactly one marked default = true."
  }

  validation {
    condition = alltrue([for name, chain in var.chains : (
      can(regex("^[a-z0-9._-]{1,32}$", name)) && !can(regex("^[0-9]+$", name)) &&
      chain.chain_id > 0 && floor(chain.chain_id) == chain.chain_id &&
      chain.lanes >= 1 && chain.lanes <= 32 && floor(chain.lanes) == chain.lanes &&
      chain.send_to >= 1 && floor(chain.send_to) == chain.send_to &&
      can(regex("^0x[0-9a-fA-F]{40}$", chain.target_contract)) &&
      alltrue([for addr in values(chain.target_contracts) : can(regex("^0x[0-9a-fA-F]{40}$", addr))])
    )])
    error_message = "chains: each name 1 to 32 lowercase letters, digits, ., _ or - (not a number); chain_id a positive whole number; lanes 1 to 32; send_to at least 1; target_contract and every target_contracts value 0x and 40 hex digits."
  }

  validation {
    condition = length(distinct([for chain in values(var.chains) : chain.chain_id])) == length(var.chains)
    error_message = "chains: each chain_id once."
  }

  validation {
    condition = alltrue([for chain in values(var.chains) : chain.allowed_message_types == null ? true : (
      length(chain.allowed_message_types) > 0 &&
      alltrue([for t in chain.allowed_message_types : length(t) > 0 && !strcontains(t, ";")]) &&
      (!contains(chain.allowed_message_types, "*") || length(chain.allowed_message_types) == 1)
    )])
    error_message = "chains: allowed_message_types, where given, as allowed_message_types below (non-empty entries without ';', and \"*\" only alone)."
  }
}

variable "chain_nodes" {
  description = "Each chain's JSON-RPC nodes (their URLs carry providers' keys), by the chains' names: kept in a Secrets Manager secret per chain, never in an environment variable. The label stands for the node in /health and logs."
  type = map(list(object({
    url    = string
    label  = optional(string)
    weight = optional(number, 1)
  })))
  default   = {}
  sensitive = true

  validation {
    condition = alltrue([for nodes in values(var.chain_nodes) : length(nodes) >= 1 && length(nodes) <= 16 && alltrue([
      for node in nodes : can(regex("^https?://", node.url)) && node.weight >= 1 && node.weight <= 1000 && floor(node.weight) == node.weight && (node.label == null ? true : can(regex("^[A-Za-z0-9._-]{1,32}$", node.label)))
    ])])
    error_message = "chain_nodes: 1 to 16 nodes per chain, each an http(s) url, a whole weight 1 to 1000, and a label of 1 to 32 letters, digits, -, _ or ."
  }
}

variable "chain_id" {
  description = "The one chain's id, when chains is empty: the chain the signer signs for and the API accepts."
  type        = number
  default     = null

  validation {
    condition     = var.chain_id == null ? true : var.chain_id > 0 && floor(var.chain_id) == var.chain_id
    error_message = "chain_id must be a positive integer."
  }
}

variable "rpc_url" {
  description = "The one chain's JSON-RPC endpoint (often carries an API key), when chains is empty. Or list several in rpc_nodes. Kept in Secrets Manager, as chain_nodes are."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.rpc_url == null ? true : can(regex("^https?://", var.rpc_url))
    error_message = "rpc_url must be an http(s) URL."
  }
}

variable "lanes" {
  description = "The one chain's signing keys (lanes), when chains is empty, each its own KMS key, address and nonces: a new transaction takes the least busy lane, and a stalled or underfunded lane takes no new work. Fund every lane's address (GET /health lists them). Signing keys are never destroyed by a plan (prevent_destroy): lowering it is refused until the last lanes are drained and their keys taken out of the state by hand (docs/deploy.md)."
  type        = number
  default     = 1

  validation {
    condition     = var.lanes >= 1 && var.lanes <= 32 && floor(var.lanes) == var.lanes
    error_message = "lanes must be a whole number from 1 to 32."
  }
}

variable "rpc_nodes" {
  description = "Several JSON-RPC endpoints of the chain, instead of rpc_url: calls go to healthy ones by weight and fail over; a node that keeps failing rests 30 s. The label stands for the node in /health and logs (never the URL)."
  type = list(object({
    url    = string
    label  = optional(string)
    weight = optional(number, 1)
  }))
  default   = []
  sensitive = true

  validation {
    condition = length(var.rpc_nodes) <= 16 && alltrue([
      for node in var.rpc_nodes : can(regex("^https?://", node.url)) && node.weight >= 1 && node.weight <= 1000 && floor(node.weight) == node.weight && (node.label == null ? true : can(regex("^[A-Za-z0-9._-]{1,32}$", node.label)))
    ])
    error_message = "rpc_nodes: at most 16, each an http(s) url, a whole weight 1 to 1000, and a label of 1 to 32 letters, digits, -, _ or ."
  }
}

variable "rpc_send_to" {
  description = "How many of the nodes each signed transaction is sent to at once (the same bytes: \"already known\" is success)."
  type        = number
  default     = 1

  validation {
    condition     = var.rpc_send_to >= 1 && floor(var.rpc_send_to) == var.rpc_send_to
    error_message = "rpc_send_to must be a whole number, at least 1."
  }
}

variable "target_contract" {
  description = "The one chain's default contract the signer addresses transactions to (0x + 40 hex digits), when chains is empty."
  type        = string
  default     = null

  validation {
    condition     = var.target_contract == null ? true : can(regex("^0x[0-9a-fA-F]{40}$", var.target_contract))
    error_message = "target_contract must be 0x followed by 40 hex digits."
  }
}

variable "target_contracts" {
  description = "Per-message-type contract overrides, signature => 0x address. Rendered as \"sig=0xaddr;sig=0xaddr\"."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for addr in values(var.target_contracts) : can(regex("^0x[0-9a-fA-F]{40}$", addr))])
    error_message = "Every target_contracts value must be 0x followed by 40 hex digits."
  }

  validation {
    condition     = alltrue([for sig in keys(var.target_contracts) : length(regexall("[;=]", sig)) == 0 && length(sig) > 0])
    error_message = "target_contracts keys must be non-empty and contain neither ';' nor '='."
  }
}

variable "allowed_message_types" {
  description = <<-EOT
    The message types (Solidity function signatures) the API accepts and the signer signs; the
    api and the signer both check it, and neither starts without it. There is no default: a
    deployment names what it may sign. ["*"] allows every well-formed signature: for a test
    network only, never for production (anyone holding an API key could then make the signer
    call any function of the target contracts). Rendered joined with ";".
  EOT
  type        = list(string)

  validation {
    condition     = length(var.allowed_message_types) > 0
    error_message = "allowed_message_types must name at least one message type (or be [\"*\"], which allows every one: not for production)."
  }

  validation {
    condition     = alltrue([for t in var.allowed_message_types : length(t) > 0 && !strcontains(t, ";")])
    error_message = "allowed_message_types entries must be non-empty and must not contain ';'."
  }

  validation {
    # "*" beside signatures would silently allow everything.
    condition     = !contains(var.allowed_message_types, "*") || length(var.allowed_message_types) == 1
    error_message = "\"*\" allows every message type: use it alone ([\"*\"]), or list the signatures."
  }
}

variable "lambda_zip_dir" {
  description = "Directory holding <function>/bootstrap.zip, as written by `make build-lambdas`."
  type        = string
  default     = "../target/lambda"
}

variable "lambda_architecture" {
  description = "CPU architecture of the Lambda zips (`make build-lambdas` builds arm64 by default)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "lambda_memory_mb" {
  description = "Memory (and so CPU share) of each function."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group here: the functions', the APIs' access logs and the WAF's."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "rust_log" {
  description = "RUST_LOG filter of every function."
  type        = string
  default     = "info"
}

variable "rpc_timeout_ms" {
  description = "Timeout of one JSON-RPC call, in milliseconds. The consumers' Lambda timeouts are derived from it (main.tf)."
  type        = number
  default     = 45000

  validation {
    condition     = var.rpc_timeout_ms >= 1000 && var.rpc_timeout_ms < 60000
    error_message = "rpc_timeout_ms must be between 1000 and 59999."
  }
}

variable "confirmations" {
  description = "Confirmations (the inclusion block counts as one) before the broadcaster marks a transaction confirmed. Unset (null): the chain's default (shared/src/domain/chains.rs: 12 on Ethereum, 64 on Polygon PoS, 3 on Arbitrum/OP/Base, ...)."
  type        = number
  default     = null

  validation {
    condition     = var.confirmations == null ? true : var.confirmations >= 1 && floor(var.confirmations) == var.confirmations
    error_message = "confirmations must be a whole number, at least 1 (the broadcaster refuses 0), or null for the chain's default."
  }
}

variable "reprice_after_blocks" {
  description = "Blocks a bid may stay pending, above the base fee, before a tip below the node's suggested one is replaced at the same nonce. Unset (null): the chain's default, about a minute of blocks (shared/src/domain/chains.rs: 5 on Ethereum, 30 on Polygon/OP/Base, 240 on Arbitrum, ...)."
  type        = number
  default     = null

  validation {
    condition     = var.reprice_after_blocks == null ? true : var.reprice_after_blocks >= 1 && floor(var.reprice_after_blocks) == var.reprice_after_blocks
    error_message = "reprice_after_blocks must be a whole number, at least 1, or null for the chain's default."
  }
}

variable "receipt_poll_seconds" {
  description = "Delay of the broadcaster's next receipt check (an SQS message delay, so at most 900 s)."
  type        = number
  default     = 5

  validation {
    condition     = var.receipt_poll_seconds >= 1 && var.receipt_poll_seconds <= 900 && floor(var.receipt_poll_seconds) == var.receipt_poll_seconds
    error_message = "receipt_poll_seconds must be a whole number between 1 and 900 (SQS's longest message delay)."
  }
}

variable "fee_bump_percent" {
  description = "How much the broadcaster raises both fee caps of a stuck transaction's replacement, in percent."
  type        = number
  default     = 12

  validation {
    condition     = var.fee_bump_percent >= 10 && var.fee_bump_percent <= 1000 && floor(var.fee_bump_percent) == var.fee_bump_percent
    error_message = "fee_bump_percent must be a whole number between 10 and 1000 (nodes refuse replacements bumped by less than 10%)."
  }
}

variable "max_fee_per_gas_wei" {
  description = "Highest max fee per gas, in wei, the signer may sign and a replacement may pay. A string: wei amounts overflow Terraform's exact integers in JSON."
  type        = string
  default     = "500000000000" # 500 gwei

  validation {
    # 38 digits always fit the code's u128.
    condition     = can(regex("^[1-9][0-9]{0,37}$", var.max_fee_per_gas_wei))
    error_message = "max_fee_per_gas_wei must be a positive whole number of wei, in decimal digits (at most 38)."
  }
}

variable "max_gas_limit" {
  description = "Highest gas limit the signer signs a transaction with; a call estimated above it is refused. Together with max_fee_per_gas_wei it bounds what one transaction can cost."
  type        = number
  default     = 2000000

  validation {
    # 21000 is what a plain transfer costs: a contract call needs more.
    condition     = var.max_gas_limit > 21000 && floor(var.max_gas_limit) == var.max_gas_limit
    error_message = "max_gas_limit must be a whole number above 21000."
  }
}

variable "signing_lease_seconds" {
  description = "How long one signer invocation holds the right to sign a transaction; at least the signer's timeout (3 x rpc_timeout_ms + 15 s, 150 s by default)."
  type        = number
  default     = 180

  validation {
    condition     = var.signing_lease_seconds >= 1 && floor(var.signing_lease_seconds) == var.signing_lease_seconds
    error_message = "signing_lease_seconds must be a positive whole number."
  }
}

variable "max_attempts" {
  description = "Deliveries of a message before its transaction needs review: the signer's and broadcaster's MAX_ATTEMPTS and the sign and broadcast queues' maxReceiveCount, which must be equal."
  type        = number
  default     = 10

  validation {
    condition     = var.max_attempts >= 1 && var.max_attempts <= 1000 && floor(var.max_attempts) == var.max_attempts
    error_message = "max_attempts must be a whole number between 1 and 1000 (SQS's maxReceiveCount range)."
  }
}

variable "backoff_base_seconds" {
  description = "Ceiling of the first retry's delay (full jitter: the delay is drawn in [0, ceiling])."
  type        = number
  default     = 2

  validation {
    condition     = var.backoff_base_seconds >= 1 && floor(var.backoff_base_seconds) == var.backoff_base_seconds
    error_message = "backoff_base_seconds must be a whole number, at least 1 (SQS visibility has whole seconds)."
  }
}

variable "backoff_factor" {
  description = "Growth of the retry delay's ceiling per attempt."
  type        = number
  default     = 2

  validation {
    condition     = var.backoff_factor >= 1
    error_message = "backoff_factor must be at least 1."
  }
}

variable "backoff_cap_seconds" {
  description = "Largest retry delay ceiling; at least backoff_base_seconds and at most 43200 (SQS's longest visibility timeout)."
  type        = number
  default     = 900

  validation {
    condition     = var.backoff_cap_seconds >= 1 && var.backoff_cap_seconds <= 43200 && floor(var.backoff_cap_seconds) == var.backoff_cap_seconds
    error_message = "backoff_cap_seconds must be a whole number between 1 and 43200 (12 hours); it must also be at least backoff_base_seconds."
  }
}

variable "sweep_schedule" {
  description = "EventBridge Scheduler expression that runs the sweeper."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.sweep_schedule))
    error_message = "sweep_schedule must be a rate(...) or cron(...) expression."
  }
}

variable "sweep_grace_seconds" {
  description = "How long past its due time (next_attempt_at, or the last update) a transaction counts as stuck and is re-published by the sweeper."
  type        = number
  default     = 300

  validation {
    condition     = var.sweep_grace_seconds >= 1 && floor(var.sweep_grace_seconds) == var.sweep_grace_seconds
    error_message = "sweep_grace_seconds must be a positive whole number."
  }
}

variable "sweep_batch_limit" {
  description = "Most transactions the sweeper re-publishes per status and run."
  type        = number
  default     = 500

  validation {
    condition     = var.sweep_batch_limit >= 1 && var.sweep_batch_limit <= 4294967295 && floor(var.sweep_batch_limit) == var.sweep_batch_limit
    error_message = "sweep_batch_limit must be a positive whole number."
  }
}

variable "signer_max_concurrency" {
  description = "Most concurrent signer invocations the sign queue's event source mapping starts (2-1000)."
  type        = number
  default     = 2

  validation {
    condition     = var.signer_max_concurrency >= 2 && var.signer_max_concurrency <= 1000
    error_message = "signer_max_concurrency must be between 2 and 1000."
  }
}

variable "broadcaster_max_concurrency" {
  description = "Most concurrent broadcaster invocations the broadcast queue's event source mapping starts (2-1000)."
  type        = number
  default     = 5

  validation {
    condition     = var.broadcaster_max_concurrency >= 2 && var.broadcaster_max_concurrency <= 1000
    error_message = "broadcaster_max_concurrency must be between 2 and 1000."
  }
}

variable "api_throttling_rate_limit" {
  description = "Steady-state requests per second the client API's stage allows, all clients together (every method)."
  type        = number
  default     = 50

  validation {
    condition     = var.api_throttling_rate_limit > 0 && var.api_throttling_rate_limit <= 10000
    error_message = "api_throttling_rate_limit must be between 1 and 10000 (the account's default regional limit)."
  }
}

variable "api_throttling_burst_limit" {
  description = "Burst of requests the client API's stage allows, all clients together."
  type        = number
  default     = 100

  validation {
    condition     = var.api_throttling_burst_limit >= 1 && var.api_throttling_burst_limit <= 5000 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a whole number between 1 and 5000 (the account's default burst)."
  }
}

variable "api_clients" {
  description = <<-EOT
    Client services of the API, by name. Each gets its own API key and usage plan: a steady
    rate (requests per second), a burst, and optionally a daily quota. Every client's limits
    apply on top of the stage's throttling. Every route but GET /health and GET /openapi.json needs a key (header
    x-api-key), and a client sees only the transactions it submitted with its key.
  EOT
  type = map(object({
    rate_limit    = number
    burst_limit   = number
    quota_per_day = optional(number)
  }))
  default = {
    default = { rate_limit = 10, burst_limit = 20 }
  }

  validation {
    condition     = length(var.api_clients) > 0
    error_message = "api_clients needs at least one client: without an API key nobody can submit transactions."
  }

  validation {
    condition     = alltrue([for name in keys(var.api_clients) : can(regex("^[a-z0-9][a-z0-9-]{0,62}$", name))])
    error_message = "api_clients names must be 1-63 lowercase letters, digits or dashes."
  }

  validation {
    condition     = alltrue([for c in values(var.api_clients) : c.rate_limit > 0 && c.burst_limit >= 1 && floor(c.burst_limit) == c.burst_limit])
    error_message = "Every api_clients entry needs rate_limit > 0 and a whole burst_limit of at least 1."
  }

  validation {
    condition     = alltrue([for c in values(var.api_clients) : c.quota_per_day == null ? true : (c.quota_per_day >= 1 && floor(c.quota_per_day) == c.quota_per_day)])
    error_message = "quota_per_day, when set, must be a positive whole number of requests."
  }
}

variable "api_domain_name" {
  description = "Optional custom domain of the client API (e.g. tx.example.com). Without one, the API's URL carries its stage (/v1)."
  type        = string
  default     = null

  validation {
    condition     = var.api_domain_name == null || can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.api_domain_name))
    error_message = "api_domain_name must be a lowercase DNS name."
  }
}

variable "api_certificate_arn" {
  description = "ACM certificate for api_domain_name, in the deployment's region (required with api_domain_name)."
  type        = string
  default     = null

  validation {
    condition     = var.api_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:", var.api_certificate_arn))
    error_message = "api_certificate_arn must be an ACM certificate ARN."
  }
}

variable "waf_enabled" {
  description = "Put a WAF web ACL in front of the client API: a per-IP rate limit and AWS's managed rules against known bad inputs and bad IP addresses (about 9 USD a month plus 0.60 USD per million requests)."
  type        = bool
  default     = true
}

variable "waf_rate_limit_per_5_minutes" {
  description = "Requests one source IP may send to the client API in any 5-minute window before the WAF blocks it."
  type        = number
  default     = 1000

  validation {
    condition     = var.waf_rate_limit_per_5_minutes >= 100 && var.waf_rate_limit_per_5_minutes <= 2000000000 && floor(var.waf_rate_limit_per_5_minutes) == var.waf_rate_limit_per_5_minutes
    error_message = "waf_rate_limit_per_5_minutes must be a whole number of at least 100."
  }
}

variable "manage_api_gateway_account" {
  description = <<-EOT
    Set the region's API Gateway account setting (the CloudWatch Logs role that REST and
    WebSocket APIs log through). It is one setting per account and region: turn this off if
    another stack already manages it.
  EOT
  type        = bool
  default     = true
}

variable "admin_principal_arns" {
  description = "IAM principals (roles or users) that may assume the admin role, which may invoke the retry function directly. Empty: any principal of this account that its own IAM policy lets assume the role."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", arn))])
    error_message = "admin_principal_arns entries must be IAM role, user or account-root ARNs."
  }
}

variable "status_page_urls" {
  description = <<-EOT
    Where operators open the status page: the Cognito app client's callback and sign-out URLs,
    and the operator API's CORS origins. Empty (the default): the operator API's own URL + "/",
    which serves the page itself; the page is then same-origin and the API sends no CORS
    headers at all. List other URLs (https, or http://localhost for development) only to serve
    the page from elsewhere.
  EOT
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for url in var.status_page_urls : can(regex("^(https://[^/*]+|http://localhost(:[0-9]+)?)/", url))])
    error_message = "status_page_urls entries must be https:// URLs (or http://localhost[:port]/ for development) with a path, e.g. https://ops.example.com/, and no wildcard."
  }
}

variable "operator_auth_domain_prefix" {
  description = "Prefix of the Cognito hosted UI's domain (https://<prefix>.auth.<region>.amazoncognito.com), where operators sign in. Unique per region across AWS; null: \"<name_prefix>-<account id>\"."
  type        = string
  default     = null

  validation {
    condition = var.operator_auth_domain_prefix == null || (
      can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.operator_auth_domain_prefix)) &&
      length(regexall("aws|amazon|cognito", coalesce(var.operator_auth_domain_prefix, "-"))) == 0
    )
    error_message = "operator_auth_domain_prefix must be 1-63 lowercase letters, digits or dashes, and must not contain aws, amazon or cognito."
  }
}

variable "admin_throttling_rate_limit" {
  description = "Requests per second the operator API allows, all operators together: the status page (its files, reads, and a poll every 3 s while its live feed is down) and retries. The burst is twice this."
  type        = number
  default     = 10

  validation {
    condition     = var.admin_throttling_rate_limit > 0
    error_message = "admin_throttling_rate_limit must be positive."
  }
}

variable "websocket_throttling_rate_limit" {
  description = "Messages and connections per second the status page's WebSocket API allows."
  type        = number
  default     = 20

  validation {
    condition     = var.websocket_throttling_rate_limit > 0
    error_message = "websocket_throttling_rate_limit must be positive."
  }
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarm_emails entries must be e-mail addresses."
  }
}

variable "queue_age_alarm_seconds" {
  description = "Alarm when the oldest message of the sign or broadcast queues (main or priority) is older than this. A message retried with backoff legitimately ages: keep it above the sum of the backoff ceilings."
  type        = number
  default     = 3600

  validation {
    condition     = var.queue_age_alarm_seconds >= 60 && floor(var.queue_age_alarm_seconds) == var.queue_age_alarm_seconds
    error_message = "queue_age_alarm_seconds must be a whole number of at least 60."
  }
}

variable "api_5xx_alarm_threshold" {
  description = "Alarm when an API answers at least this many 5xx in 5 minutes."
  type        = number
  default     = 5

  validation {
    condition     = var.api_5xx_alarm_threshold >= 1 && floor(var.api_5xx_alarm_threshold) == var.api_5xx_alarm_threshold
    error_message = "api_5xx_alarm_threshold must be a positive whole number."
  }
}

variable "low_balance_alarm_ether" {
  description = "Alarm when the signer address holds less than this, in ether (the chain's native currency), or when the signer has reported no balance for an hour."
  type        = number
  default     = 0.05

  validation {
    condition     = var.low_balance_alarm_ether >= 0
    error_message = "low_balance_alarm_ether must be zero or more."
  }
}

variable "deletion_protection" {
  description = "Protect the transactions table and the operators' user pool from deletion (turn off only to tear down a test environment)."
  type        = bool
  default     = true
}

# --- webhooks -------------------------------------------------------------------------

variable "webhook_max_attempts" {
  description = "Deliveries of a webhook message before it is kept in the webhook dead-letter queue: the webhooks function's MAX_ATTEMPTS and the webhook queue's maxReceiveCount. With the default backoff, 12 attempts span about a day and a half."
  type        = number
  default     = 12

  validation {
    condition     = var.webhook_max_attempts >= 1 && var.webhook_max_attempts <= 1000 && floor(var.webhook_max_attempts) == var.webhook_max_attempts
    error_message = "webhook_max_attempts must be a whole number between 1 and 1000 (SQS's maxReceiveCount range)."
  }
}

variable "webhook_backoff_base_seconds" {
  description = "Ceiling of a webhook's first retry delay (full jitter)."
  type        = number
  default     = 30

  validation {
    condition     = var.webhook_backoff_base_seconds >= 1 && floor(var.webhook_backoff_base_seconds) == var.webhook_backoff_base_seconds
    error_message = "webhook_backoff_base_seconds must be a whole number, at least 1."
  }
}

variable "webhook_backoff_factor" {
  description = "Growth of a webhook's retry ceiling per attempt."
  type        = number
  default     = 3

  validation {
    condition     = var.webhook_backoff_factor >= 1
    error_message = "webhook_backoff_factor must be at least 1."
  }
}

variable "webhook_backoff_cap_seconds" {
  description = "No webhook retry waits longer than this (at most 43200, SQS's longest visibility)."
  type        = number
  default     = 21600

  validation {
    condition     = var.webhook_backoff_cap_seconds >= 1 && var.webhook_backoff_cap_seconds <= 43200
    error_message = "webhook_backoff_cap_seconds must be between 1 and 43200."
  }
}

variable "webhook_timeout_seconds" {
  description = "How long an endpoint has to answer a delivery (1-30)."
  type        = number
  default     = 10

  validation {
    condition     = var.webhook_timeout_seconds >= 1 && var.webhook_timeout_seconds <= 30 && floor(var.webhook_timeout_seconds) == var.webhook_timeout_seconds
    error_message = "webhook_timeout_seconds must be a whole number between 1 and 30."
  }
}

variable "webhook_max_concurrency" {
  description = "Most concurrent deliverer invocations the webhook queue's event source mapping starts (2-1000): slow endpoints take no more than this from the account's concurrency."
  type        = number
  default     = 5

  validation {
    condition     = var.webhook_max_concurrency >= 2 && var.webhook_max_concurrency <= 1000
    error_message = "webhook_max_concurrency must be between 2 and 1000."
  }
}
