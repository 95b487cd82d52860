//! The chain's nodes, as declared: `RPC_NODES`, a JSON list of `{"url", "label", "weight"}`
//! (label and weight optional), or else the one `RPC_URL`; and `RPC_SEND_TO`, how many of them
//! each signed transaction goes to at once (default 1).
//!
//! A node's URL usually carries the provider's API key: it never appears in an error, a log
//! line or `Debug` output; the label stands for the node everywhere.

use std::fmt;

use serde::Deserialize;

use super::{ConfigError, Env, invalid};

/// At most this many nodes per chain.
pub const MAX_NODES: usize = 16;

/// One node, as declared.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDecl {
    pub url: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

impl fmt::Debug for NodeDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeDecl")
            .field("url", &"<redacted>")
            .field("label", &self.label)
            .field("weight", &self.weight)
            .finish()
    }
}

/// The nodes of the chain, each with its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcNodes {
    nodes: Vec<NodeDecl>,
    pub send_to: usize,
}

impl RpcNodes {
    /// One node, labelled `node-1`.
    pub fn one(url: impl Into<String>) -> Self {
        RpcNodes {
            nodes: vec![NodeDecl {
                url: url.into(),
                label: None,
                weight: 1,
            }],
            send_to: 1,
        }
    }

    /// Nodes by URL alone, labelled by position.
    pub fn from_urls(
        urls: impl IntoIterator<Item = String>,
        send_to: usize,
    ) -> Result<Self, String> {
        let nodes = urls
            .into_iter()
            .map(|url| NodeDecl {
                url,
                label: None,
                weight: 1,
            })
            .collect();
        RpcNodes::new(nodes, send_to)
    }

    /// Several nodes, checked as a declaration is.
    pub fn new(nodes: Vec<NodeDecl>, send_to: usize) -> Result<Self, String> {
        if nodes.is_empty() || nodes.len() > MAX_NODES {
            return Err(format!(
                "it must list 1 to {MAX_NODES} nodes, not {}",
                nodes.len()
            ));
        }
        if !(1..=nodes.len()).contains(&send_to) {
            return Err(format!(
                "RPC_SEND_TO must be 1 to the number of nodes ({}), not {send_to}",
                nodes.len()
            ));
        }
        let nodes = RpcNodes { nodes, send_to };
        let mut labels = Vec::new();
        for (i, (label, weight, _)) in nodes.iter().enumerate() {
            let position = i + 1;
            if !(1..=1000).contains(&weight) {
                return Err(format!(
                    "node {position}: weight must be 1 to 1000, not {weight}"
                ));
            }
            let well_formed = (1..=32).contains(&label.len())
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !well_formed {
                return Err(format!(
                    "node {position}: a label is 1 to 32 letters, digits, `-`, `_` or `.`"
                ));
            }
            if labels.contains(&label) {
                return Err(format!(
                    "node {position}: the label `{label}` is used twice"
                ));
            }
            labels.push(label);
        }
        Ok(nodes)
    }

    /// Each node's label (given, or `node-N` by position), weight and URL.
    pub fn iter(&self) -> impl Iterator<Item = (String, u32, &str)> {
        self.nodes.iter().enumerate().map(|(i, node)| {
            let label = node
                .label
                .clone()
                .unwrap_or_else(|| format!("node-{}", i + 1));
            (label, node.weight, node.url.as_str())
        })
    }

    /// The nodes and `send_to`, to be checked again as part of a chain.
    pub(super) fn into_parts(self) -> (Vec<NodeDecl>, usize) {
        (self.nodes, self.send_to)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl Env {
    /// `RPC_NODES` (and `RPC_SEND_TO`), else `RPC_URL`.
    pub fn rpc_nodes(&self) -> Result<RpcNodes, ConfigError> {
        let send_to: usize = self.or_default("RPC_SEND_TO", 1)?;
        let Some(raw) = self.raw("RPC_NODES") else {
            let url: String = self
                .optional("RPC_URL")?
                .ok_or(ConfigError::Missing("RPC_NODES or RPC_URL"))?;
            return RpcNodes::new(RpcNodes::one(url).nodes, send_to)
                .map_err(|e| invalid("RPC_SEND_TO", e));
        };
        // serde's message may quote a value, and a value may be a URL with its key: only
        // where the declaration went wrong is told.
        let nodes: Vec<NodeDecl> = serde_json::from_str(raw).map_err(|e| {
            invalid(
                "RPC_NODES",
                format!(
                    "not a JSON list of {{\"url\", \"label\", \"weight\"}}: {:?} error at line {}, column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            )
        })?;
        RpcNodes::new(nodes, send_to).map_err(|e| invalid("RPC_NODES", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYED: &str = "https://eth.example/v2/s3cr3t-key";

    #[test]
    fn one_url_is_a_pool_of_one() {
        let nodes = Env::from_pairs([("RPC_URL", KEYED)]).rpc_nodes();
        assert_eq!(nodes, Ok(RpcNodes::one(KEYED)));
        let labels: Vec<String> = RpcNodes::one(KEYED).iter().map(|(l, ..)| l).collect();
        assert_eq!(labels, vec!["node-1"]);
        assert_eq!(
            Env::from_pairs([("RPC_SEND_TO", "1")]).rpc_nodes(),
            Err(ConfigError::Missing("RPC_NODES or RPC_URL"))
        );
    }

    #[test]
    fn a_declaration_lists_labelled_weighted_nodes() {
        let env = Env::from_pairs([
            (
                "RPC_NODES",
                r#"[{"url": "http://a", "label": "primary", "weight": 3}, {"url": "http://b"}]"#,
            ),
            ("RPC_SEND_TO", "2"),
        ]);
        let nodes = env.rpc_nodes().unwrap_or_else(|e| panic!("{e}"));
        let listed: Vec<(String, u32, &str)> = nodes.iter().collect();
        assert_eq!(
            listed,
            vec![
                ("primary".to_owned(), 3, "http://a"),
                ("node-2".to_owned(), 1, "http://b")
            ]
        );
        assert_eq!(nodes.send_to, 2);
    }

    #[test]
    fn a_bad_declaration_is_named_and_never_quotes_a_url() {
        let cases = [
            (r#"[]"#, "1", "1 to 16 nodes"),
            (r#"[{"url": "http://a"}]"#, "2", "RPC_SEND_TO"),
            (r#"[{"url": "http://a", "weight": 0}]"#, "1", "weight"),
            (r#"[{"url": "http://a", "label": "x y"}]"#, "1", "label"),
            (
                r#"[{"url": "http://a", "label": "x"}, {"url": "http://b", "label": "x"}]"#,
                "1",
                "used twice",
            ),
            (r#"[{"url": "http://a", "urll": 1}]"#, "1", "column"),
            (
                &format!(r#"[{{"url": 5, "label": "{KEYED}"}}]"#),
                "1",
                "column",
            ),
            (
                &format!(r#"[{{"url": "{KEYED}", "weight": "{KEYED}"}}]"#),
                "1",
                "column",
            ),
        ];
        for (raw, send_to, expected) in cases {
            let error = Env::from_pairs([("RPC_NODES", raw), ("RPC_SEND_TO", send_to)])
                .rpc_nodes()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(expected), "{raw}: {error}");
            assert!(error.contains("RPC_NODES"), "{raw}: {error}");
            assert!(!error.contains("s3cr3t"), "{raw}: {error}");
        }
        let debug = format!("{:?}", RpcNodes::one(KEYED));
        assert!(!debug.contains("s3cr3t"), "{debug}");
    }
}
