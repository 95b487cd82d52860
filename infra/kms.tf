# The transaction signing key: secp256k1, usable only for Sign/Verify. Its
# private half never leaves KMS; the signer's address is derived from
# GetPublicKey. Asymmetric keys cannot be rotated automatically: rotating means
# a new key, and so a new on-chain address.
resource "aws_kms_key" "signer" {
  description              = "${local.prefix} EVM transaction signing key"
  customer_master_key_spec = "ECC_SECG_P256K1"
  key_usage                = "SIGN_VERIFY"
  deletion_window_in_days  = 30
  enable_key_rotation      = false
  policy                   = data.aws_iam_policy_document.signer_key.json
}

resource "aws_kms_alias" "signer" {
  name          = "alias/${local.prefix}-signer"
  target_key_id = aws_kms_key.signer.key_id
}

# The account administers the key through IAM; use is granted by the
# functions' role policies: kms:Sign and kms:GetPublicKey to the signer and
# the broadcaster (which re-signs fee-bump replacements and nonce fillers),
# kms:GetPublicKey to the api. The key policy itself makes sure no other
# principal of the account can sign with it, whatever its IAM policies say:
# a signature here spends the signing address's funds.
data "aws_iam_policy_document" "signer_key" {
  # In a key policy, resource "*" means this key only; the root-account grant
  # is what keeps the key manageable (AWS's default key policy).
  #checkov:skip=CKV_AWS_109:Key policy: "*" is this key; root grant delegates to IAM
  #checkov:skip=CKV_AWS_111:Key policy: "*" is this key; root grant delegates to IAM
  #checkov:skip=CKV_AWS_356:Key policy: "*" is this key; root grant delegates to IAM
  statement {
    sid       = "AccountAdministersThroughIam"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "OnlyTheSigningFunctionsSign"
    effect    = "Deny"
    actions   = ["kms:Sign"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.function["signer"].arn, aws_iam_role.function["broadcaster"].arn]
    }
  }
}
