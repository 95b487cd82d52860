//! A chain's nodes kept in Secrets Manager (`nodes_secret` in `CHAINS`): read once at start-up,
//! so node URLs, which carry providers' keys, never sit in a function's environment.
//!
//! The secret's value is the JSON list `CHAINS` would hold in `nodes`, checked the same way. No
//! error quotes the value.

use crate::config::{ChainNodes, Chains, ConfigError, NodeDecl, RpcNodes};

/// Reads every chain's secret and lists its nodes in its place; the first failure stops
/// start-up, naming the chain and the secret.
pub async fn read_chain_nodes(
    chains: &mut Chains,
    client: &aws_sdk_secretsmanager::Client,
) -> Result<(), ConfigError> {
    for chain in chains.iter_mut() {
        let ChainNodes::InSecret {
            secret,
            version,
            send_to,
        } = &chain.nodes
        else {
            continue;
        };
        let fail = |reason: String| ConfigError::Invalid {
            name: "CHAINS",
            reason: format!("chain {}: `nodes_secret` `{secret}`: {reason}", chain.id),
        };
        let value = client
            .get_secret_value()
            .secret_id(secret)
            .set_version_id(version.clone())
            .send()
            .await
            .map_err(|e| fail(format!("can't be read ({})", crate::aws::describe(&e))))?;
        let text = value
            .secret_string()
            .ok_or_else(|| fail("holds no text (a binary secret?)".into()))?;
        let nodes: Vec<NodeDecl> = serde_json::from_str(text).map_err(|e| {
            fail(format!(
                "not a JSON list of {{\"url\", \"label\", \"weight\"}}: {:?} error at line {}, column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let nodes = RpcNodes::new(nodes, *send_to).map_err(fail)?;
        chain.nodes = ChainNodes::Listed(nodes);
    }
    Ok(())
}
