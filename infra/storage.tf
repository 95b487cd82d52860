# One table holds every transaction, nonce counter, idempotency key and status
# page connection. `pk` is the item key; the indexes serve the API's listings,
# all in `id` order (ids are time-ordered, so that is creation order): by
# status and by kind for operators, and by client for a client, which reads
# only its own items (its listings, searches, counts and cursors). The sweeper also reads `by_status`, filtering on
# `next_attempt_at`, a plain attribute that needs no declaration here; the
# notifier lists the open WebSocket connections through `by_created`
# (kind = "conn").
resource "aws_dynamodb_table" "transactions" {
  name                        = "${local.prefix}-transactions"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.deletion_protection

  # Change feed for the notifier, which pushes status changes to the status
  # page. Lambda's reads of it are free.
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

  attribute {
    name = "client_id"
    type = "S"
  }

  attribute {
    name = "nonce_account"
    type = "S"
  }

  attribute {
    name = "nonce"
    type = "N"
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

  # Sparse: only transactions carry `client_id`.
  global_secondary_index {
    name            = "by_client"
    hash_key        = "client_id"
    range_key       = "id"
    projection_type = "ALL"
  }

  # Sparse: only transactions that took a nonce carry `nonce_account`
  # (NONCE#<chain>#<address>). The sweeper's nonce watchdog reads the nonces
  # held at or above the chain's, to find holes, stalls and reorganisations.
  global_secondary_index {
    name            = "by_nonce"
    hash_key        = "nonce_account"
    range_key       = "nonce"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  # Idempotency keys (24 hours) and other bookkeeping carry `expires_at`, in
  # epoch seconds; DynamoDB deletes them some time after, for free.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  # The table, its indexes, stream and backups, under the data key.
  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
}
