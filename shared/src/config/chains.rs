//! The chains a deployment serves, as declared: `CHAINS`, a JSON list with one object per
//! chain, or else the one chain of the single-chain variables (`CHAIN_ID`, `RPC_NODES` or
//! `RPC_URL`, `KMS_KEY_IDS` or `KMS_KEY_ID`, …), so a deployment of one chain, one key and one
//! node is declared as it always was.
//!
//! A chain in `CHAINS`:
//! ```json
//! {"id": 8453, "name": "base", "default": true,
//!  "nodes": [{"url": "https://…", "label": "alchemy", "weight": 2}], "send_to": 1,
//!  "keys": ["alias/tx-broadcaster-base-1", "alias/tx-broadcaster-base-2"],
//!  "target_contract": "0x…", "target_contracts": {"ping()": "0x…"},
//!  "allowed_message_types": "add_weight(address,uint256); ping()",
//!  "confirmations": 3, "reprice_after_blocks": 240,
//!  "max_gas_limit": 500000, "max_fee_per_gas_wei": 50000000000, "fee_bump_percent": 12}
//! ```
//! `id` and `keys` are required, and the nodes: listed in `nodes`, or kept in a Secrets Manager
//! secret named by `nodes_secret` (its value the same JSON list), read once at start-up
//! ([`crate::adapters::secrets::read_chain_nodes`]) so no node URL sits in the environment. The allowlist, the spending caps and the bump fall
//! back to the deployment's `ALLOWED_MESSAGE_TYPES`, `MAX_GAS_LIMIT`, `MAX_FEE_PER_GAS_WEI` and
//! `FEE_BUMP_PERCENT`; confirmations and re-pricing to the chain's own defaults
//! (`domain::chains`). The default chain (the one a request without `chain` goes to) is the
//! one marked `default`, else the first.
//!
//! A declaration that is not valid stops start-up naming the chain and the field; a node's URL
//! (which usually carries the provider's key) is never quoted.

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::Address;
use serde::Deserialize;

use super::{ConfigError, Env, MAX_LANES, NodeDecl, RpcNodes, invalid};
use crate::domain::chains;
use crate::domain::fees::{BumpPolicy, SpendCaps};
use crate::validation::MessageTypePolicy;

/// At most this many chains per deployment.
pub const MAX_CHAINS: usize = 16;

/// The variables that declare the one chain of a single-chain deployment: with `CHAINS` set,
/// none of them may be (which one would win is a question with money on it).
const ONE_CHAIN_VARIABLES: [&str; 11] = [
    "CHAIN_ID",
    "CHAIN_NAME",
    "RPC_URL",
    "RPC_NODES",
    "RPC_SEND_TO",
    "KMS_KEY_ID",
    "KMS_KEY_IDS",
    "TARGET_CONTRACT",
    "TARGET_CONTRACTS",
    "CONFIRMATIONS",
    "REPRICE_AFTER_BLOCKS",
];

/// One chain, as declared and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainDecl {
    pub id: u64,
    /// Lowercase; a request may name the chain by it.
    pub name: String,
    /// The chain's nodes, or where to read them.
    pub nodes: ChainNodes,
    /// The chain's signing keys (KMS key ids or aliases), a lane each; the first is lane 1.
    pub keys: Vec<String>,
    /// Where calls go, unless `target_overrides` names their signature. Only the signer needs
    /// it ([`ChainDecl::target`]).
    pub target_contract: Option<Address>,
    /// By canonical signature.
    pub target_overrides: BTreeMap<String, Address>,
    /// What may be signed on this chain. Only the API and the signer need it
    /// ([`ChainDecl::policy`]).
    pub policy: Option<MessageTypePolicy>,
    pub confirmations: u64,
    pub reprice_after_blocks: u64,
    pub caps: SpendCaps,
    pub bump: BumpPolicy,
}

/// A chain's nodes: listed, or in a secret not read yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainNodes {
    Listed(RpcNodes),
    /// The Secrets Manager secret (name or ARN) whose value lists them, which version of it
    /// (none: the current one), and how many nodes each signed transaction goes to.
    InSecret {
        secret: String,
        version: Option<String>,
        send_to: usize,
    },
}

impl ChainDecl {
    /// The chain's nodes, once listed: a secret is read at start-up, before the functions are
    /// built, so one still unread is a wiring mistake, told as such.
    pub fn nodes(&self) -> Result<&RpcNodes, ConfigError> {
        match &self.nodes {
            ChainNodes::Listed(nodes) => Ok(nodes),
            ChainNodes::InSecret { secret, .. } => Err(invalid(
                "CHAINS",
                format!(
                    "chain {}: its nodes are in the secret `{secret}`, which was not read",
                    self.id
                ),
            )),
        }
    }

    /// The chain's target contract, required by the functions that sign.
    pub fn target(&self) -> Result<Address, ConfigError> {
        self.target_contract.ok_or_else(|| {
            invalid(
                "CHAINS",
                format!(
                    "chain {}: `target_contract` is required (TARGET_CONTRACT for one chain)",
                    self.id
                ),
            )
        })
    }

    /// The chain's allowlist, required by the functions that accept or sign calls.
    pub fn policy(&self) -> Result<MessageTypePolicy, ConfigError> {
        self.policy.clone().ok_or_else(|| {
            invalid(
                "CHAINS",
                format!(
                    "chain {}: `allowed_message_types` is required, here or as ALLOWED_MESSAGE_TYPES: the message types it signs (`;`-separated signatures), or `*` for every one (never in production)",
                    self.id
                ),
            )
        })
    }

    /// The lowest balance with which a lane can still pay for one transaction at the caps.
    pub fn min_balance_wei(&self) -> u128 {
        self.caps
            .max_fee_per_gas
            .saturating_mul(u128::from(self.caps.max_gas_limit))
    }
}

/// Every chain served, the default one first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chains {
    list: Vec<ChainDecl>,
}

impl Chains {
    /// The chain a request without `chain` goes to.
    pub fn default_chain(&self) -> &ChainDecl {
        // Never empty: `Env::chains` refuses a declaration of none.
        &self.list[0]
    }

    pub fn iter(&self) -> impl Iterator<Item = &ChainDecl> {
        self.list.iter()
    }

    pub fn get(&self, id: u64) -> Option<&ChainDecl> {
        self.list.iter().find(|chain| chain.id == id)
    }

    /// Each chain, to put its nodes in place.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut ChainDecl> {
        self.list.iter_mut()
    }

    /// Chains checked as a declaration's are: 1 to [`MAX_CHAINS`], ids and names distinct.
    pub fn from_list(list: Vec<ChainDecl>) -> Result<Self, ConfigError> {
        if list.is_empty() || list.len() > MAX_CHAINS {
            return Err(invalid(
                "CHAINS",
                format!(
                    "it must declare 1 to {MAX_CHAINS} chains, not {}",
                    list.len()
                ),
            ));
        }
        let mut ids = BTreeSet::new();
        let mut names = BTreeSet::new();
        for chain in &list {
            if !ids.insert(chain.id) {
                return Err(invalid(
                    "CHAINS",
                    format!("chain {} is declared twice", chain.id),
                ));
            }
            if !names.insert(chain.name.clone()) {
                return Err(invalid(
                    "CHAINS",
                    format!(
                        "chain {}: the name `{}` is used twice",
                        chain.id, chain.name
                    ),
                ));
            }
        }
        Ok(Chains { list })
    }
}

/// One chain as written in `CHAINS`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declared {
    id: u64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    default: bool,
    #[serde(default)]
    nodes: Vec<NodeDecl>,
    #[serde(default)]
    nodes_secret: Option<String>,
    /// The secret's version to read (Terraform names the one it wrote, so a change of nodes is
    /// a change of the declaration, and the functions start anew with it).
    #[serde(default)]
    nodes_version: Option<String>,
    #[serde(default = "one")]
    send_to: usize,
    keys: Vec<String>,
    #[serde(default)]
    target_contract: Option<String>,
    #[serde(default)]
    target_contracts: BTreeMap<String, String>,
    #[serde(default)]
    allowed_message_types: Option<String>,
    #[serde(default)]
    confirmations: Option<u64>,
    #[serde(default)]
    reprice_after_blocks: Option<u64>,
    #[serde(default)]
    max_gas_limit: Option<u64>,
    #[serde(default)]
    max_fee_per_gas_wei: Option<u128>,
    #[serde(default)]
    fee_bump_percent: Option<u32>,
}

fn one() -> usize {
    1
}

/// What a chain takes from the deployment's variables when it does not say.
struct Fallbacks {
    policy: Option<MessageTypePolicy>,
    caps: SpendCaps,
    bump_percent: u32,
}

impl Env {
    /// The chains served: `CHAINS`, else the one chain of the single-chain variables.
    pub fn chains(&self) -> Result<Chains, ConfigError> {
        let fallbacks = Fallbacks {
            policy: self
                .raw("ALLOWED_MESSAGE_TYPES")
                .map(|_| self.message_type_policy("ALLOWED_MESSAGE_TYPES"))
                .transpose()?,
            caps: SpendCaps {
                max_gas_limit: self
                    .or_default("MAX_GAS_LIMIT", SpendCaps::default().max_gas_limit)?,
                max_fee_per_gas: self
                    .or_default("MAX_FEE_PER_GAS_WEI", SpendCaps::default().max_fee_per_gas)?,
            },
            bump_percent: self.or_default(
                "FEE_BUMP_PERCENT",
                crate::domain::fees::DEFAULT_BUMP_PERCENT,
            )?,
        };
        let Some(raw) = self.raw("CHAINS") else {
            return Chains::from_list(vec![self.one_chain(fallbacks)?]);
        };
        if let Some(also) = ONE_CHAIN_VARIABLES
            .iter()
            .find(|name| self.raw(name).is_some())
        {
            return Err(invalid(
                "CHAINS",
                format!(
                    "{also} is set too: with CHAINS, every chain's settings are in its declaration"
                ),
            ));
        }
        // serde's message may quote a value, and a value may be a URL with its key: only where
        // the declaration went wrong is told, and which field.
        let declared: Vec<Declared> = serde_json::from_str(raw).map_err(|e| {
            let field = e
                .to_string()
                .split('`')
                .nth(1)
                .filter(|_| e.is_data())
                .map(|f| format!(" (field `{f}`)"))
                .unwrap_or_default();
            invalid(
                "CHAINS",
                format!(
                    "not a JSON list of chains: {:?} error{field} at line {}, column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            )
        })?;
        if declared.iter().filter(|chain| chain.default).count() > 1 {
            return Err(invalid("CHAINS", "more than one chain is marked `default`"));
        }
        let mut list = declared
            .into_iter()
            .map(|chain| {
                let default = chain.default;
                checked(chain, &fallbacks).map(|decl| (default, decl))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The default chain first; the others in the declared order.
        list.sort_by_key(|(default, _)| !default);
        Chains::from_list(list.into_iter().map(|(_, decl)| decl).collect())
    }

    fn one_chain(&self, fallbacks: Fallbacks) -> Result<ChainDecl, ConfigError> {
        // Each variable checked by its own helper, which names it; then the chain as a whole.
        let (nodes, send_to) = self.rpc_nodes()?.into_parts();
        let declared = Declared {
            id: self.required("CHAIN_ID")?,
            name: self.optional("CHAIN_NAME")?,
            default: true,
            nodes,
            nodes_secret: None,
            nodes_version: None,
            send_to,
            keys: self.kms_key_ids()?,
            target_contract: self.optional("TARGET_CONTRACT")?,
            target_contracts: self
                .target_overrides("TARGET_CONTRACTS")?
                .into_iter()
                .map(|(signature, address)| (signature, address.to_string()))
                .collect(),
            allowed_message_types: None,
            confirmations: self.optional("CONFIRMATIONS")?,
            reprice_after_blocks: self.optional("REPRICE_AFTER_BLOCKS")?,
            max_gas_limit: None,
            max_fee_per_gas_wei: None,
            fee_bump_percent: None,
        };
        checked(declared, &fallbacks)
    }
}

fn checked(chain: Declared, fallbacks: &Fallbacks) -> Result<ChainDecl, ConfigError> {
    let id = chain.id;
    let fail =
        |field: &str, reason: String| invalid("CHAINS", format!("chain {id}: `{field}`: {reason}"));
    if id == 0 {
        return Err(fail("id", "a chain id is at least 1".into()));
    }
    let name = match chain.name {
        Some(name) => name.trim().to_ascii_lowercase(),
        None => chains::name(id),
    };
    let well_formed = (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return Err(fail(
            "name",
            "1 to 32 letters, digits, `-`, `_` or `.`, and not a number (a number names a chain by its id)".into(),
        ));
    }
    let nodes = match (chain.nodes_secret, chain.nodes.is_empty()) {
        (None, _) if chain.nodes_version.is_some() => {
            return Err(fail(
                "nodes_version",
                "names a version of `nodes_secret`, which is not set".into(),
            ));
        }
        (None, _) => ChainNodes::Listed(
            RpcNodes::new(chain.nodes, chain.send_to).map_err(|e| fail("nodes", e))?,
        ),
        (Some(secret), true) => {
            let secret = secret.trim().to_owned();
            if secret.is_empty() || secret.len() > 2048 {
                return Err(fail(
                    "nodes_secret",
                    "a secret's name or ARN, 1 to 2048 characters".into(),
                ));
            }
            if chain.send_to == 0 || chain.send_to > super::MAX_NODES {
                return Err(fail("send_to", format!("1 to {} nodes", super::MAX_NODES)));
            }
            ChainNodes::InSecret {
                secret,
                version: chain.nodes_version,
                send_to: chain.send_to,
            }
        }
        (Some(_), false) => {
            return Err(fail(
                "nodes_secret",
                "list the nodes in `nodes` or keep them in `nodes_secret`, not both".into(),
            ));
        }
    };
    let keys: Vec<String> = chain.keys.iter().map(|k| k.trim().to_owned()).collect();
    if keys.is_empty() || keys.len() > MAX_LANES || keys.iter().any(String::is_empty) {
        return Err(fail(
            "keys",
            format!("1 to {MAX_LANES} KMS key ids or aliases, none empty"),
        ));
    }
    let mut seen = BTreeSet::new();
    if let Some(twice) = keys.iter().find(|k| !seen.insert(k.as_str())) {
        return Err(fail("keys", format!("`{twice}` is listed twice")));
    }
    let target_contract = chain
        .target_contract
        .map(|raw| {
            raw.trim()
                .parse::<Address>()
                .map_err(|e| fail("target_contract", format!("`{raw}`: {e}")))
        })
        .transpose()?;
    let target_overrides = chain
        .target_contracts
        .iter()
        .map(|(signature, address)| {
            super::target_entry(signature, address).map_err(|e| fail("target_contracts", e))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let policy = match chain.allowed_message_types {
        Some(raw) => Some(super::policy_of(&raw).map_err(|e| fail("allowed_message_types", e))?),
        None => fallbacks.policy.clone(),
    };
    let confirmations = chain
        .confirmations
        .unwrap_or_else(|| chains::default_confirmations(id));
    if confirmations == 0 {
        return Err(fail("confirmations", "must be at least 1".into()));
    }
    if confirmations < chains::default_confirmations(id) {
        tracing::warn!(
            chain_id = id,
            confirmations,
            chain_default = chains::default_confirmations(id),
            "confirmations are below the chain's usual reorganisation depth: a transaction can be shown confirmed and then fall out of the chain (the watchdog follows it again)"
        );
    }
    let reprice_after_blocks = chain
        .reprice_after_blocks
        .unwrap_or_else(|| chains::default_reprice_after_blocks(id));
    if reprice_after_blocks == 0 {
        return Err(fail("reprice_after_blocks", "must be at least 1".into()));
    }
    let caps = SpendCaps {
        max_gas_limit: chain.max_gas_limit.unwrap_or(fallbacks.caps.max_gas_limit),
        max_fee_per_gas: chain
            .max_fee_per_gas_wei
            .unwrap_or(fallbacks.caps.max_fee_per_gas),
    };
    if caps.max_gas_limit < 21_000 {
        return Err(fail(
            "max_gas_limit",
            format!("must be at least 21000, got {}", caps.max_gas_limit),
        ));
    }
    let bump_percent = chain.fee_bump_percent.unwrap_or(fallbacks.bump_percent);
    if !(10..=1000).contains(&bump_percent) {
        return Err(fail(
            "fee_bump_percent",
            format!(
                "must be 10 to 1000 (nodes refuse replacements bumped by less than 10%), got {bump_percent}"
            ),
        ));
    }
    Ok(ChainDecl {
        id,
        name,
        nodes,
        keys,
        target_contract,
        target_overrides,
        policy,
        confirmations,
        reprice_after_blocks,
        caps,
        bump: BumpPolicy {
            bump_percent,
            max_fee_per_gas: caps.max_fee_per_gas,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYED: &str = "https://eth.example/v2/s3cr3t-key";

    fn two_chains() -> String {
        format!(
            r#"[{{"id": 31337, "nodes": [{{"url": "http://a"}}], "keys": ["k1", "k2"],
                 "target_contract": "0x00000000000000000000000000000000000000aa"}},
                {{"id": 8453, "name": "Base", "default": true, "nodes": [{{"url": "{KEYED}", "label": "alchemy"}}],
                 "keys": ["b1"], "confirmations": 5, "allowed_message_types": "ping()",
                 "target_contracts": {{"ping( )": "0x00000000000000000000000000000000000000bb"}},
                 "max_fee_per_gas_wei": 1000000000}}]"#
        )
    }

    #[test]
    fn one_chain_is_declared_by_the_single_chain_variables() {
        let env = Env::from_pairs([
            ("CHAIN_ID", "31337"),
            ("RPC_URL", "http://a"),
            ("KMS_KEY_ID", "k1"),
            (
                "TARGET_CONTRACT",
                "0x00000000000000000000000000000000000000aa",
            ),
            (
                "TARGET_CONTRACTS",
                "ping()=0x00000000000000000000000000000000000000bb",
            ),
            ("ALLOWED_MESSAGE_TYPES", "*"),
            ("CONFIRMATIONS", "2"),
            ("FEE_BUMP_PERCENT", "20"),
        ]);
        let chains = env.chains().unwrap_or_else(|e| panic!("{e}"));
        let chain = chains.default_chain();
        assert_eq!((chain.id, chain.name.as_str()), (31337, "anvil"));
        assert_eq!(chain.nodes(), Ok(&RpcNodes::one("http://a")));
        assert_eq!(chain.keys, vec!["k1".to_owned()]);
        assert_eq!(chain.target(), Ok(Address::with_last_byte(0xaa)));
        assert_eq!(
            chain.target_overrides.get("ping()"),
            Some(&Address::with_last_byte(0xbb))
        );
        assert_eq!(chain.policy(), Ok(MessageTypePolicy::allow_all()));
        assert_eq!(chain.confirmations, 2);
        assert_eq!(chain.bump.bump_percent, 20);
        assert_eq!(chains.iter().count(), 1);
    }

    #[test]
    fn a_declaration_lists_chains_with_the_default_first() {
        let env = Env::from_pairs([
            ("CHAINS", two_chains().as_str()),
            ("ALLOWED_MESSAGE_TYPES", "add_weight(address,uint256)"),
            ("MAX_GAS_LIMIT", "90000"),
        ]);
        let chains = env.chains().unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<u64> = chains.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![8453, 31337]);
        let base = chains.default_chain();
        assert_eq!(base.name, "base");
        assert_eq!(base.confirmations, 5);
        assert_eq!(base.caps.max_gas_limit, 90_000, "the deployment's cap");
        assert_eq!(base.caps.max_fee_per_gas, 1_000_000_000, "its own");
        assert_eq!(base.bump.max_fee_per_gas, 1_000_000_000);
        assert!(
            base.policy()
                .is_ok_and(|p| p.allows("ping()") && !p.allows("add_weight(address,uint256)"))
        );
        assert!(base.target().is_err(), "no target: only the signer minds");
        let anvil = chains.get(31337).unwrap_or_else(|| panic!("anvil"));
        assert_eq!(anvil.name, "anvil");
        assert!(
            anvil
                .policy()
                .is_ok_and(|p| p.allows("add_weight(address,uint256)"))
        );
        assert_eq!(anvil.confirmations, 1);
    }

    #[test]
    fn a_bad_declaration_names_the_chain_and_field_and_never_quotes_a_url() {
        let node = format!(r#"[{{"url": "{KEYED}"}}]"#);
        let cases = [
            ("[]".to_owned(), "1 to 16 chains"),
            (format!(r#"[{{"id": 1, "nodes": {node}}}]"#), "keys"),
            (
                format!(r#"[{{"id": 1, "nodes": {node}, "keys": []}}]"#),
                "chain 1: `keys`",
            ),
            (
                r#"[{"id": 1, "nodes": [], "keys": ["k"]}]"#.to_owned(),
                "chain 1: `nodes`",
            ),
            (
                format!(r#"[{{"id": 1, "nodes": {node}, "nodes_secret": "s", "keys": ["k"]}}]"#),
                "not both",
            ),
            (
                r#"[{"id": 1, "nodes_secret": " ", "keys": ["k"]}]"#.to_owned(),
                "`nodes_secret`",
            ),
            (
                format!(r#"[{{"id": 1, "nodes": {node}, "keys": ["k"], "confirmations": 0}}]"#),
                "`confirmations`",
            ),
            (
                format!(r#"[{{"id": 1, "nodes": {node}, "keys": ["k"], "name": "137"}}]"#),
                "`name`",
            ),
            (
                format!(r#"[{{"id": 1, "nodes": {node}, "keys": ["k"], "fee_bump_percent": 5}}]"#),
                "`fee_bump_percent`",
            ),
            (
                format!(
                    r#"[{{"id": 1, "nodes": {node}, "keys": ["k"], "target_contract": "0x1"}}]"#
                ),
                "`target_contract`",
            ),
            (
                format!(
                    r#"[{{"id": 1, "nodes": {node}, "keys": ["k"], "allowed_message_types": "nope"}}]"#
                ),
                "`allowed_message_types`",
            ),
            (
                format!(r#"[{{"id": 1, "nodes": {node}, "keys": ["k"], "nodez": 1}}]"#),
                "field `nodez`",
            ),
            (
                format!(
                    r#"[{{"id": 1, "nodes": {node}, "keys": ["k"]}}, {{"id": 1, "nodes": {node}, "keys": ["k"]}}]"#
                ),
                "declared twice",
            ),
            (
                format!(
                    r#"[{{"id": 1, "nodes": {node}, "keys": ["k"], "default": true}}, {{"id": 2, "nodes": {node}, "keys": ["k"], "default": true}}]"#
                ),
                "more than one",
            ),
            (
                format!(r#"[{{"id": "{KEYED}", "nodes": {node}, "keys": ["k"]}}]"#),
                "column",
            ),
        ];
        for (raw, expected) in cases {
            let error = Env::from_pairs([("CHAINS", raw.as_str())])
                .chains()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(expected), "{raw}: {error}");
            assert!(error.contains("CHAINS"), "{raw}: {error}");
            assert!(!error.contains("s3cr3t"), "{raw}: {error}");
        }
    }

    #[test]
    fn chains_and_the_single_chain_variables_do_not_mix() {
        let error = Env::from_pairs([("CHAINS", two_chains().as_str()), ("CHAIN_ID", "1")])
            .chains()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("CHAIN_ID is set too"), "{error}");
    }

    #[test]
    fn nodes_may_be_kept_in_a_secret_read_later() {
        let env = Env::from_pairs([(
            "CHAINS",
            r#"[{"id": 8453, "nodes_secret": "tx/chains/base/nodes", "send_to": 2, "keys": ["k"]}]"#,
        )]);
        let chains = env.chains().unwrap_or_else(|e| panic!("{e}"));
        let base = chains.default_chain();
        assert_eq!(
            base.nodes,
            ChainNodes::InSecret {
                secret: "tx/chains/base/nodes".into(),
                version: None,
                send_to: 2
            }
        );
        let unread = base
            .nodes()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(unread.contains("was not read"), "{unread}");
    }
}
