# Two customer managed keys, for two different jobs:
# - the signing key (secp256k1, Sign/Verify only): a signature with it spends
#   the signing address's funds;
# - the data key (symmetric, rotated yearly): encrypts data at rest, in the
#   table and its stream, the queues, the topics, the log groups and the
#   functions' environment and the chains' node secrets (their URLs carry providers' keys).
#
# Both key policies are written out here rather than as aws_iam_policy_document
# data sources: in a key policy, resource "*" means "this key", and the root
# statement delegates to IAM (AWS's default key policy); identity-policy rules
# do not apply to them.

# --- signing key ------------------------------------------------------------------

# The private half never leaves KMS; the signer's address is derived from
# GetPublicKey. Asymmetric keys cannot be rotated automatically: rotating means
# a new key, and so a new on-chain address (docs/deploy.md, "Rotating the
# signing key").
#
# One key per lane: each its own address, with its own nonces. The default
# chain's lanes are aws_kms_key.signer[0..] (the first keeps the address and
# alias of a single-key deployment); every other chain's lanes are
# aws_kms_key.chain_signer["<chain id>/<lane>"].
#
# A signing key holds an address's funds: no plan destroys one
# (prevent_destroy). Fewer lanes, a chain removed, or another default chain is
# refused until the keys concerned are drained and taken out of the state by
# hand (docs/deploy.md, "Lanes").
resource "aws_kms_key" "signer" {
  count                    = local.default_lanes
  description              = count.index == 0 ? "${local.prefix} EVM transaction signing key" : "${local.prefix} EVM transaction signing key, lane ${count.index + 1}"
  customer_master_key_spec = "ECC_SECG_P256K1"
  key_usage                = "SIGN_VERIFY"
  deletion_window_in_days  = 30
  enable_key_rotation      = false
  policy                   = local.signer_key_policy

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_key" "chain_signer" {
  for_each                 = local.more_lanes
  description              = "${local.prefix} EVM transaction signing key, chain ${each.value.chain_id} lane ${each.value.lane}"
  customer_master_key_spec = "ECC_SECG_P256K1"
  key_usage                = "SIGN_VERIFY"
  deletion_window_in_days  = 30
  enable_key_rotation      = false
  policy                   = local.signer_key_policy

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "signer" {
  count         = local.default_lanes
  name          = count.index == 0 ? "alias/${local.prefix}-signer" : "alias/${local.prefix}-signer-lane-${count.index + 1}"
  target_key_id = aws_kms_key.signer[count.index].key_id
}

# The default chain's keys are aws_kms_key.signer: a change of default chain
# would hand them to another chain. This record of the default chain's id can't
# be replaced (prevent_destroy), so such a plan fails instead; moving the
# default is a deliberate operation (docs/deploy.md, "Lanes and chains").
resource "terraform_data" "default_chain" {
  triggers_replace = local.chains[local.default_chain].chain_id

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "chain_signer" {
  for_each      = local.more_lanes
  name          = "alias/${local.prefix}-chain-${each.value.chain_id}-signer-lane-${each.value.lane}"
  target_key_id = aws_kms_key.chain_signer[each.key].key_id
}

locals {
  # Every signing key, for the roles that sign (and the api, which reads their
  # public keys for /health).
  signing_key_arns = concat(aws_kms_key.signer[*].arn, [for key in aws_kms_key.chain_signer : key.arn])

  # Each chain's keys, lane 1 first, as the functions name them: by alias,
  # known at plan time.
  chain_key_aliases = {
    for name, chain in local.chains : name => name == local.default_chain ? aws_kms_alias.signer[*].name : [
      for i in range(chain.lanes) : aws_kms_alias.chain_signer["${chain.chain_id}/${i + 1}"].name
    ]
  }
}

# A deployment of one key becomes lane 1: the same key, never a new address.
moved {
  from = aws_kms_key.signer
  to   = aws_kms_key.signer[0]
}

moved {
  from = aws_kms_alias.signer
  to   = aws_kms_alias.signer[0]
}

locals {
  account_root_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"

  # The roles whose code signs: the signer, the broadcaster (fee-bump
  # replacements and nonce fillers) and the sweeper (its nonce watchdog fills
  # holes).
  signing_role_arns = [
    aws_iam_role.function["signer"].arn,
    aws_iam_role.function["broadcaster"].arn,
    aws_iam_role.function["sweeper"].arn,
  ]

  # The account administers the key through IAM. Only the signing roles may
  # Sign, granted here and nowhere else: the Deny holds whatever any IAM policy
  # of the account says, administrators included. GetPublicKey (public
  # information: it gives the address) is granted by the role policies, to the
  # signing roles and the api (/health).
  signer_key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersThroughIam"
        Effect    = "Allow"
        Principal = { AWS = local.account_root_arn }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "SigningFunctionsSign"
        Effect    = "Allow"
        Principal = { AWS = local.signing_role_arns }
        Action    = ["kms:Sign", "kms:GetPublicKey"]
        Resource  = "*"
      },
      {
        Sid       = "OnlyTheSigningFunctionsSign"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "kms:Sign"
        Resource  = "*"
        Condition = {
          ArnNotEquals = { "aws:PrincipalArn" = local.signing_role_arns }
        }
      },
    ]
  })
}

# --- data key ---------------------------------------------------------------------

resource "aws_kms_key" "data" {
  description             = "${local.prefix} data at rest: table, queues, topics, logs, function environments"
  key_usage               = "ENCRYPT_DECRYPT"
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = local.data_key_policy
}

resource "aws_kms_alias" "data" {
  name          = "alias/${local.prefix}-data"
  target_key_id = aws_kms_key.data.key_id
}

locals {
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Built from names: the log groups and topics refer to the key, so the key
  # cannot refer to them.
  log_group_arn_patterns = [
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.prefix}-*",
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/apigateway/${local.prefix}-*",
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:aws-waf-logs-${local.prefix}*",
  ]
  requests_topic_arn = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.prefix}-requests"
  alarms_topic_arn   = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.prefix}-alarms"

  # The functions' roles use the key through the services (their role
  # policies, iam.tf); the services below use it on their own behalf, each only
  # for this deployment's resources.
  data_key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersThroughIam"
        Effect    = "Allow"
        Principal = { AWS = local.account_root_arn }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "LogsEncryptOwnGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = local.log_group_arn_patterns }
        }
      },
      {
        # SNS delivers the requests topic's messages into the encrypted sign queue.
        Sid       = "RequestsTopicDeliversToQueue"
        Effect    = "Allow"
        Principal = { Service = "sns.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource  = "*"
        Condition = {
          ArnEquals = { "aws:SourceArn" = local.requests_topic_arn }
        }
      },
      {
        # CloudWatch alarms publish to the encrypted alarm topic.
        Sid       = "AlarmsPublishToTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  })
}
