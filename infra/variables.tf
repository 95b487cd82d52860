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

variable "chain_id" {
  description = "EVM chain id the signer signs for and the API accepts."
  type        = number

  validation {
    condition     = var.chain_id > 0 && floor(var.chain_id) == var.chain_id
    error_message = "chain_id must be a positive integer."
  }
}

variable "rpc_url" {
  description = "JSON-RPC endpoint of the chain node (often carries an API key)."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^https?://", var.rpc_url))
    error_message = "rpc_url must be an http(s) URL."
  }
}

variable "target_contract" {
  description = "Default contract the signer addresses transactions to (0x + 40 hex digits)."
  type        = string

  validation {
    condition     = can(regex("^0x[0-9a-fA-F]{40}$", var.target_contract))
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
  description = "Message types the API accepts (empty list: the code's default). Rendered joined with \";\"."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for t in var.allowed_message_types : length(t) > 0 && !strcontains(t, ";")])
    error_message = "allowed_message_types entries must be non-empty and must not contain ';'."
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
  description = "Retention of the functions' and the API's CloudWatch log groups."
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
  description = "Timeout of one JSON-RPC call, in milliseconds; must leave room inside the signer's 60 s."
  type        = number
  default     = 45000

  validation {
    condition     = var.rpc_timeout_ms >= 1000 && var.rpc_timeout_ms < 60000
    error_message = "rpc_timeout_ms must be between 1000 and 59999 (the signer times out at 60 s)."
  }
}

variable "confirmations" {
  description = "Blocks on top of the inclusion block before the broadcaster marks a transaction confirmed."
  type        = number
  default     = 1

  validation {
    condition     = var.confirmations >= 0 && floor(var.confirmations) == var.confirmations
    error_message = "confirmations must be a non-negative integer."
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
  description = "Steady-state requests per second the HTTP API stage allows."
  type        = number
  default     = 50
}

variable "api_throttling_burst_limit" {
  description = "Burst of requests the HTTP API stage allows."
  type        = number
  default     = 100
}

variable "deletion_protection" {
  description = "Protect the transactions table from deletion (turn off only to tear down a test environment)."
  type        = bool
  default     = true
}
