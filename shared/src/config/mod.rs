//! Typed configuration from environment variables, read once at start-up.
//!
//! Each function owns a `Config` struct built from an [`Env`]; a missing or malformed variable
//! fails start-up with a message that names it. [`Env::from_pairs`] lets the local runner and
//! the tests build the same configs without touching the process environment.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::str::FromStr;

use std::time::Duration;

use alloy::primitives::Address;

use crate::backoff::Backoff;

use crate::validation::{CallError, MessageTypePolicy};

mod chains;
mod nodes;

/// At most this many signing keys (lanes) per chain.
pub const MAX_LANES: usize = 32;
pub use chains::{ChainDecl, ChainNodes, Chains, MAX_CHAINS};
pub use nodes::{MAX_NODES, NodeDecl, RpcNodes};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Where configuration values come from.
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    /// An explicit set of variables.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The raw value; an empty value counts as unset.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn required<T>(&self, name: &'static str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.optional(name)?.ok_or(ConfigError::Missing(name))
    }

    pub fn optional<T>(&self, name: &'static str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.raw(name)
            .map(|raw| {
                raw.parse::<T>().map_err(|e| ConfigError::Invalid {
                    name,
                    reason: format!("`{raw}`: {e}"),
                })
            })
            .transpose()
    }

    pub fn or_default<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.optional(name)?.unwrap_or(default))
    }

    /// `ALLOWED_MESSAGE_TYPES`: `;`-separated signatures (signatures contain commas), or `*`
    /// to allow every well-formed message type. Required: what may be signed is never left to
    /// a default.
    pub fn message_type_policy(
        &self,
        name: &'static str,
    ) -> Result<MessageTypePolicy, ConfigError> {
        let raw = self.raw(name).ok_or(ConfigError::Invalid {
            name,
            reason: "it must list the message types this deployment signs (`;`-separated \
                     signatures), or be `*` to allow every one (never in production)"
                .into(),
        })?;
        policy_of(raw).map_err(|e| invalid(name, e))
    }

    /// The chain's signing keys, a lane each: `KMS_KEY_IDS` (`,`-separated, distinct), else
    /// the one `KMS_KEY_ID`. The first is the chain's first lane.
    pub fn kms_key_ids(&self) -> Result<Vec<String>, ConfigError> {
        let Some(raw) = self.raw("KMS_KEY_IDS") else {
            let one: String = self
                .optional("KMS_KEY_ID")?
                .ok_or(ConfigError::Missing("KMS_KEY_IDS or KMS_KEY_ID"))?;
            return Ok(vec![one]);
        };
        let ids: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect();
        if ids.is_empty() {
            return Err(invalid("KMS_KEY_IDS", "it lists no key"));
        }
        if ids.len() > MAX_LANES {
            return Err(invalid(
                "KMS_KEY_IDS",
                format!("at most {MAX_LANES} keys, not {}", ids.len()),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(twice) = ids.iter().find(|id| !seen.insert(id.as_str())) {
            return Err(invalid("KMS_KEY_IDS", format!("`{twice}` is listed twice")));
        }
        Ok(ids)
    }

    /// Retry timing: `BACKOFF_BASE_SECONDS` (default 2), `BACKOFF_FACTOR` (2),
    /// `BACKOFF_CAP_SECONDS` (900) and `MAX_ATTEMPTS` (10, the queue's `maxReceiveCount`).
    pub fn backoff(&self) -> Result<Backoff, ConfigError> {
        self.backoff_or(Backoff::default())
    }

    /// [`Self::backoff`], each setting left out taken from `defaults`.
    pub fn backoff_or(&self, defaults: Backoff) -> Result<Backoff, ConfigError> {
        Backoff::new(
            Duration::from_secs(self.or_default("BACKOFF_BASE_SECONDS", defaults.base.as_secs())?),
            self.or_default("BACKOFF_FACTOR", defaults.factor)?,
            Duration::from_secs(self.or_default("BACKOFF_CAP_SECONDS", defaults.cap.as_secs())?),
            self.or_default("MAX_ATTEMPTS", defaults.max_attempts)?,
        )
        .map_err(|e| {
            invalid(
                "BACKOFF_BASE_SECONDS/BACKOFF_FACTOR/BACKOFF_CAP_SECONDS/MAX_ATTEMPTS",
                e,
            )
        })
    }

    /// `TARGET_CONTRACTS`: `;`-separated `signature=0xaddress` pairs, keyed by canonical signature.
    pub fn target_overrides(
        &self,
        name: &'static str,
    ) -> Result<BTreeMap<String, Address>, ConfigError> {
        let Some(raw) = self.raw(name) else {
            return Ok(BTreeMap::new());
        };
        split_list(raw)
            .map(|entry| {
                let (signature, address) = entry.rsplit_once('=').ok_or_else(|| {
                    invalid(name, format!("`{entry}` is not `signature=0xaddress`"))
                })?;
                target_entry(signature, address).map_err(|e| invalid(name, e))
            })
            .collect()
    }
}

/// An allowlist as written: `;`-separated signatures, or `*` alone.
fn policy_of(raw: &str) -> Result<MessageTypePolicy, String> {
    if raw.trim() == "*" {
        return Ok(MessageTypePolicy::allow_all());
    }
    if split_list(raw).next().is_none() {
        return Err("it lists no message type".into());
    }
    if split_list(raw).any(|entry| entry == "*") {
        return Err("`*` allows everything and stands alone".into());
    }
    MessageTypePolicy::allow_only(split_list(raw)).map_err(|e| e.to_string())
}

/// One target: a signature (any spelling, kept canonical) and the contract its calls go to.
fn target_entry(signature: &str, address: &str) -> Result<(String, Address), String> {
    let canonical = alloy::json_abi::Function::parse(signature.trim())
        .map_err(|e| {
            CallError::InvalidSignature {
                reason: e.to_string(),
            }
            .to_string()
        })?
        .signature();
    let address = address
        .trim()
        .parse::<Address>()
        .map_err(|e| format!("`{}`: {e}", address.trim()))?;
    Ok((canonical, address))
}

fn split_list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(';').map(str::trim).filter(|s| !s.is_empty())
}

fn invalid(name: &'static str, reason: impl Display) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_invalid_variables_are_named() {
        let env = Env::from_pairs([("CHAIN_ID", "abc"), ("EMPTY", " ")]);
        assert_eq!(
            env.required::<u64>("TABLE_NAME").err(),
            Some(ConfigError::Missing("TABLE_NAME"))
        );
        assert_eq!(
            env.required::<u64>("EMPTY").err(),
            Some(ConfigError::Missing("EMPTY"))
        );
        let invalid = env.required::<u64>("CHAIN_ID").err().map(|e| e.to_string());
        assert_eq!(
            invalid,
            Some(
                "environment variable CHAIN_ID is invalid: `abc`: invalid digit found in string"
                    .into()
            )
        );
        assert_eq!(env.or_default("RPC_TIMEOUT_MS", 5u64), Ok(5));
    }

    #[test]
    fn keys_are_a_list_or_the_one_key() {
        let one = Env::from_pairs([("KMS_KEY_ID", "k1")]);
        assert_eq!(one.kms_key_ids(), Ok(vec!["k1".to_owned()]));
        let many = Env::from_pairs([("KMS_KEY_IDS", " k1, k2 ,"), ("KMS_KEY_ID", "ignored")]);
        assert_eq!(
            many.kms_key_ids(),
            Ok(vec!["k1".to_owned(), "k2".to_owned()])
        );
        for bad in [",", "k1,k1"] {
            assert!(
                Env::from_pairs([("KMS_KEY_IDS", bad)])
                    .kms_key_ids()
                    .is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            Env::from_pairs([("X", "y")]).kms_key_ids(),
            Err(ConfigError::Missing("KMS_KEY_IDS or KMS_KEY_ID"))
        );
    }

    #[test]
    fn the_allowlist_fails_closed() {
        let env = Env::from_pairs([
            ("STAR", " * "),
            ("STAR_AND_MORE", "*; ping()"),
            ("EMPTY", " ; "),
        ]);
        assert_eq!(
            env.message_type_policy("STAR"),
            Ok(MessageTypePolicy::allow_all())
        );
        let unset = env
            .message_type_policy("UNSET")
            .err()
            .map(|e| e.to_string());
        assert!(
            unset.as_deref().is_some_and(|e| e.contains("UNSET")),
            "{unset:?}"
        );
        assert!(env.message_type_policy("STAR_AND_MORE").is_err());
        // An allowlist of nothing would allow nothing: a mistake, not a policy.
        assert!(env.message_type_policy("EMPTY").is_err());
    }

    #[test]
    fn lists_are_semicolon_separated_signatures() {
        let env = Env::from_pairs([
            ("ALLOWED", "add_weight(address a, uint256 w); ping()"),
            (
                "TARGETS",
                "ping()=0x00000000000000000000000000000000000000aa",
            ),
            ("BAD_TARGETS", "ping()"),
        ]);
        assert!(env.message_type_policy("ALLOWED").is_ok());
        assert!(env.message_type_policy("UNSET").is_err());
        let targets = env.target_overrides("TARGETS").unwrap_or_default();
        assert_eq!(targets.get("ping()"), Some(&Address::with_last_byte(0xaa)));
        assert!(env.target_overrides("BAD_TARGETS").is_err());
    }
}
