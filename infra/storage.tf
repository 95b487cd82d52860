# One table holds every transaction, nonce counter and idempotency key. `pk`
# is the item key; the two indexes serve the API's listings: by status, and by
# kind in `id` order (ids are time-ordered, so that is creation order). The
# sweeper also reads `by_status`, filtering on `next_attempt_at`, a plain
# attribute that needs no declaration here.
resource "aws_dynamodb_table" "transactions" {
  name                        = "${local.prefix}-transactions"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.deletion_protection

  # Change feed for later consumers (metrics, webhooks); costs nothing unread.
  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "status"
    type = "S"
  }

  attribute {
    name = "kind"
    type = "S"
  }

  attribute {
    name = "id"
    type = "S"
  }

  global_secondary_index {
    name            = "by_status"
    hash_key        = "status"
    range_key       = "id"
    projection_type = "ALL"
  }

  global_secondary_index {
    name            = "by_created"
    hash_key        = "kind"
    range_key       = "id"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  # AWS managed key (aws/dynamodb) for now; a customer managed key comes later.
  server_side_encryption {
    enabled = true
  }
}
