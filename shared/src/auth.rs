//! Who is calling: a client (which sees and submits only its own transactions) or an operator
//! (who sees everything and may retry).
//!
//! On AWS, API Gateway authenticates: the client API requires an API key and passes its id in
//! the request context; the operators' API checks a Cognito JWT. The Lambda entry points turn
//! that context into a [`Caller`]. Locally, [`LocalAuth`] checks the same headers a client sends
//! to API Gateway (`x-api-key`) and the operators' bearer token.

use std::fmt;
use std::str::FromStr;

use http::HeaderMap;
use subtle::ConstantTimeEq;

/// The longest client id: API Gateway's key ids are 10 characters; local names are short.
const MAX_CLIENT_ID_LEN: usize = 64;

/// Which client a transaction belongs to: the API key's id on AWS, its name locally.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a client id: 1 to {MAX_CLIENT_ID_LEN} letters, digits, `-`, `_` or `.`")]
pub struct InvalidClientId(String);

impl FromStr for ClientId {
    type Err = InvalidClientId;

    /// Ids appear in storage keys (`IDEM#<client>#<key>`), so `#` and anything else unusual is
    /// refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = !s.is_empty()
            && s.len() <= MAX_CLIENT_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if valid {
            Ok(ClientId(s.to_owned()))
        } else {
            Err(InvalidClientId(s.chars().take(MAX_CLIENT_ID_LEN).collect()))
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Client(ClientId),
    /// `who` names the operator for the history (a user name or e-mail, never an ARN).
    Operator {
        who: String,
    },
}

impl Caller {
    /// Whether this caller may see a transaction that belongs to `owner`.
    pub fn may_see(&self, owner: Option<&ClientId>) -> bool {
        match self {
            Caller::Operator { .. } => true,
            Caller::Client(me) => owner == Some(me),
        }
    }

    /// The client whose transactions this caller is limited to; `None` for operators.
    pub fn scope(&self) -> Option<&ClientId> {
        match self {
            Caller::Client(id) => Some(id),
            Caller::Operator { .. } => None,
        }
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// HTTP 401.
    #[error(
        "this route needs credentials: a client's `x-api-key` header, or an operator's `Authorization: Bearer <token>`"
    )]
    Missing,
    /// HTTP 403.
    #[error("the credentials are not valid")]
    Invalid,
}

/// A display name for an operator principal: an IAM ARN's resource part (no account id),
/// anything else as given, bounded.
pub fn operator_name(principal: &str) -> String {
    let name = if principal.starts_with("arn:") {
        principal.rsplit(':').next().unwrap_or(principal)
    } else {
        principal
    };
    name.chars().filter(|c| !c.is_control()).take(128).collect()
}

/// `API_KEYS`: comma-separated `name:key` pairs.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeys(Vec<(ClientId, String)>);

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys are secrets; their names are not.
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

/// What is wrong with an `API_KEYS` list, naming the entry by its position (1-based) only:
/// a name and its key swapped by mistake would otherwise print the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeysError {
    #[error("entry {0} must be `name:key`")]
    NotNameKey(usize),
    #[error(
        "the name of entry {0} must be 1 to {MAX_CLIENT_ID_LEN} letters, digits, `-`, `_` or `.`"
    )]
    BadName(usize),
    #[error("the key of entry {0} must be at least {MIN_API_KEY_LEN} visible ASCII characters")]
    WeakKey(usize),
    #[error("entry {0} repeats an earlier name or key")]
    Repeated(usize),
    #[error("no `name:key` entry")]
    Empty,
}

/// The shortest local API key accepted: anything shorter is guessable.
pub const MIN_API_KEY_LEN: usize = 16;

impl ApiKeys {
    pub fn parse(raw: &str) -> Result<Self, ApiKeysError> {
        let mut keys = Vec::new();
        let entries = raw.split(',').map(str::trim).filter(|e| !e.is_empty());
        for (at, entry) in entries.enumerate().map(|(i, e)| (i + 1, e)) {
            let (name, key) = entry.split_once(':').ok_or(ApiKeysError::NotNameKey(at))?;
            let name: ClientId = name.trim().parse().map_err(|_| ApiKeysError::BadName(at))?;
            let key = key.trim();
            if key.len() < MIN_API_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ApiKeysError::WeakKey(at));
            }
            if keys
                .iter()
                .any(|(n, k): &(ClientId, String)| *n == name || k == key)
            {
                return Err(ApiKeysError::Repeated(at));
            }
            keys.push((name, key.to_owned()));
        }
        if keys.is_empty() {
            return Err(ApiKeysError::Empty);
        }
        Ok(ApiKeys(keys))
    }

    /// One client, `local`, with a random key.
    pub fn generate_local() -> Self {
        ApiKeys(vec![(
            ClientId("local".into()),
            format!("{:032x}", rand::random::<u128>()),
        )])
    }

    pub fn entries(&self) -> impl Iterator<Item = (&ClientId, &str)> {
        self.0.iter().map(|(name, key)| (name, key.as_str()))
    }

    /// The first client's key: whom a local tool (a test, the benchmark) acts as.
    pub fn first_key(&self) -> Option<&str> {
        self.entries().next().map(|(_, key)| key)
    }

    /// `name:key,…`, as `API_KEYS` takes it.
    pub fn to_env(&self) -> String {
        self.0
            .iter()
            .map(|(name, key)| format!("{name}:{key}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The local runner's authentication: what API Gateway and Cognito do on AWS.
#[derive(Debug, Clone)]
pub struct LocalAuth {
    pub api_keys: ApiKeys,
    pub admin_token: String,
}

impl LocalAuth {
    /// An operator's bearer token wins over a client key: a request carrying a wrong token is
    /// refused even if its key is good.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        if headers.contains_key(http::header::AUTHORIZATION) {
            return check_bearer(headers, &self.admin_token).map(|()| Caller::Operator {
                who: "admin (bearer token)".into(),
            });
        }
        let Some(value) = headers.get("x-api-key") else {
            return Err(AuthError::Missing);
        };
        let given = value.to_str().unwrap_or_default();
        // Every key is compared, so the time taken does not say which one nearly matched.
        let mut found = None;
        for (name, key) in self.api_keys.entries() {
            if secrets_equal(given, key) {
                found = Some(name.clone());
            }
        }
        found.map(Caller::Client).ok_or(AuthError::Invalid)
    }
}

/// The operator a verified JWT names, by the most readable claim it carries.
pub fn operator_of_claims(claims: &std::collections::HashMap<String, String>) -> Option<String> {
    ["username", "cognito:username", "email", "sub"]
        .iter()
        .find_map(|claim| claims.get(*claim))
        .map(|who| operator_name(who))
}

/// Whether `headers` carry exactly `token` as `Authorization: Bearer …`: [`AuthError::Missing`]
/// (401) without the header, [`AuthError::Invalid`] (403) with anything else in it.
pub fn check_bearer(headers: &HeaderMap, token: &str) -> Result<(), AuthError> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?;
    let given = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if secrets_equal(given, token) {
        Ok(())
    } else {
        Err(AuthError::Invalid)
    }
}

/// Comparing secrets must not leak through timing how much of them matched.
pub fn secrets_equal(given: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalAuth {
        LocalAuth {
            api_keys: ApiKeys::parse("alice:alice-key-0123456789, bob:bob-key-0123456789ab")
                .unwrap_or_else(|e| panic!("{e}")),
            admin_token: "admin-token-0123456789".into(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap_or_else(|e| panic!("{e}")));
        }
        map
    }

    #[test]
    fn keys_name_their_client_and_tokens_make_operators() {
        let auth = local();
        assert_eq!(
            auth.authenticate(&headers(&[("x-api-key", "bob-key-0123456789ab")])),
            Ok(Caller::Client(
                "bob".parse().unwrap_or_else(|e| panic!("{e}"))
            ))
        );
        assert!(matches!(
            auth.authenticate(&headers(&[(
                "authorization",
                "Bearer admin-token-0123456789"
            )])),
            Ok(Caller::Operator { .. })
        ));
    }

    #[test]
    fn missing_is_401_and_wrong_is_403() {
        let auth = local();
        assert_eq!(
            auth.authenticate(&HeaderMap::new()),
            Err(AuthError::Missing)
        );
        for bad in [
            headers(&[("x-api-key", "alice-key-012345678")]),
            headers(&[("x-api-key", "")]),
            headers(&[("authorization", "Bearer nope")]),
            headers(&[("authorization", "admin-token-0123456789")]),
            // A good key does not rescue a bad token.
            headers(&[
                ("x-api-key", "alice-key-0123456789"),
                ("authorization", "Bearer nope"),
            ]),
        ] {
            assert_eq!(auth.authenticate(&bad), Err(AuthError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn api_keys_parse_strictly() {
        assert!(ApiKeys::parse("a:0123456789abcdef").is_ok());
        let two = ApiKeys::parse("a:0123456789abcdef,b:fedcba9876543210").ok();
        assert_eq!(
            two.as_ref().and_then(ApiKeys::first_key),
            Some("0123456789abcdef")
        );
        for bad in [
            "",
            "a",
            "a:short",
            "a#b:0123456789abcdef",
            "a:0123456789abcdef,a:fedcba9876543210",
            "a:0123456789abcdef,b:0123456789abcdef",
        ] {
            assert!(ApiKeys::parse(bad).is_err(), "{bad:?}");
        }
        // A name and key swapped, or a key where a name goes: the error names the entry only.
        for swapped in [
            "alice:0123456789abcdef,s3cr3t-k3y-0123456789:bob",
            "alice:0123456789abcdef,s3cr3t#k3y-0123456789:0123456789abcdeg",
        ] {
            let Err(error) = ApiKeys::parse(swapped) else {
                panic!("accepted {swapped:?}");
            };
            assert!(!error.to_string().contains("s3cr3t"), "{error}");
            assert!(error.to_string().contains("entry 2"), "{error}");
        }
        let keys = ApiKeys::parse("a:0123456789abcdef").unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{keys:?}").contains("0123456789abcdef"));
        assert_eq!(ApiKeys::parse(&keys.to_env()), Ok(keys));
    }

    #[test]
    fn clients_see_their_own_and_operators_all() {
        let alice: ClientId = "alice".parse().unwrap_or_else(|e| panic!("{e}"));
        let bob: ClientId = "bob".parse().unwrap_or_else(|e| panic!("{e}"));
        let caller = Caller::Client(alice.clone());
        assert!(caller.may_see(Some(&alice)));
        assert!(!caller.may_see(Some(&bob)));
        assert!(!caller.may_see(None));
        assert!(Caller::Operator { who: "o".into() }.may_see(None));
    }

    #[test]
    fn operator_names_drop_the_account() {
        assert_eq!(
            operator_name("arn:aws:sts::123456789012:assumed-role/ops/alice"),
            "assumed-role/ops/alice"
        );
        assert_eq!(operator_name("alice@example.com"), "alice@example.com");
    }
}
