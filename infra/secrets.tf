# Each chain's JSON-RPC nodes, whose URLs carry providers' keys: one secret per
# chain, encrypted with the data key, read once at start-up by the functions
# that call nodes (the signer, the broadcaster and the sweeper), and never put
# in an environment variable. The chains' declaration (CHAINS) names each
# secret and the version written here, so a change of nodes changes the
# functions' configuration and they start anew with it.
resource "aws_secretsmanager_secret" "nodes" {
  for_each                = local.chains
  name                    = local.node_secret_names[each.key]
  description             = "JSON-RPC nodes of chain ${each.value.chain_id} (a JSON list of url, label, weight)"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "nodes" {
  for_each      = local.chains
  secret_id     = aws_secretsmanager_secret.nodes[each.key].id
  secret_string = jsonencode(local.nodes_by_chain[each.key])
}
