//! Verifies the operators' Cognito access tokens where API Gateway can't: the WebSocket API's
//! `$connect` authorizer (HTTP routes use API Gateway's own JWT authorizer).
//!
//! RS256 only, against the user pool's published keys (fetched with a timeout, cached, fetched
//! again at most once a minute when a token names a key not seen yet). A token passes only if
//! its signature holds and it is an unexpired *access* token of this pool, for this app client,
//! with the `openid` scope: the same test the HTTP API's authorizer applies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde::Deserialize;
use tokio::sync::Mutex;

/// The longest token looked at: Cognito's access tokens are about 1 KiB.
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Unknown key ids fetch the key set again at most this often.
const REFETCH_EVERY: Duration = Duration::from_secs(60);
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token is not signed with RS256")]
    WrongAlgorithm,
    #[error("the token's key is not one of the user pool's")]
    UnknownKey,
    #[error("the token's signature does not hold")]
    BadSignature,
    #[error("the token has expired or is not valid yet")]
    Expired,
    #[error("the token was not issued for this service: {0}")]
    WrongAudience(&'static str),
    #[error("the user pool's keys could not be read: {0}")]
    Keys(String),
}

/// Who the token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub subject: String,
    /// The user name, for the history; the subject if the token has none.
    pub username: String,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
    nbf: Option<i64>,
    token_use: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    username: Option<String>,
}

/// The pool's RSA public keys by key id: the modulus and exponent, big-endian.
pub type KeySet = HashMap<String, (Vec<u8>, Vec<u8>)>;

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    n: String,
    e: String,
}

/// Parses a JWKS document into RSA public keys by key id.
pub fn parse_key_set(json: &[u8]) -> Result<KeySet, JwtError> {
    let set: Jwks =
        serde_json::from_slice(json).map_err(|e| JwtError::Keys(format!("not a JWKS: {e}")))?;
    set.keys
        .into_iter()
        .filter(|key| key.kty == "RSA")
        .map(|key| {
            let n = URL_SAFE_NO_PAD
                .decode(&key.n)
                .map_err(|_| JwtError::Keys(format!("key {}: `n` is not base64url", key.kid)))?;
            let e = URL_SAFE_NO_PAD
                .decode(&key.e)
                .map_err(|_| JwtError::Keys(format!("key {}: `e` is not base64url", key.kid)))?;
            Ok((key.kid, (n, e)))
        })
        .collect()
}

/// The pure check: `token` against `keys`, for `issuer` and `client_id`, at `now` (Unix seconds).
pub fn verify_with(
    token: &str,
    keys: &KeySet,
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<Operator, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwtError::Malformed)
    };
    let parsed: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| JwtError::Malformed)?;
    if parsed.alg != "RS256" {
        return Err(JwtError::WrongAlgorithm);
    }
    let (n, e) = parsed
        .kid
        .as_ref()
        .and_then(|kid| keys.get(kid))
        .ok_or(JwtError::UnknownKey)?;
    let signed = &token[..header.len() + 1 + payload.len()];
    RsaPublicKeyComponents { n, e }
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &decode(signature)?,
        )
        .map_err(|_| JwtError::BadSignature)?;
    // Only a token whose signature holds is read any further.
    let claims: Claims =
        serde_json::from_slice(&decode(payload)?).map_err(|_| JwtError::Malformed)?;
    if claims.exp + LEEWAY_SECONDS < now || claims.nbf.is_some_and(|nbf| nbf - LEEWAY_SECONDS > now)
    {
        return Err(JwtError::Expired);
    }
    if claims.iss != issuer {
        return Err(JwtError::WrongAudience("another issuer"));
    }
    if claims.token_use.as_deref() != Some("access") {
        return Err(JwtError::WrongAudience("not an access token"));
    }
    if claims.client_id.as_deref() != Some(client_id) {
        return Err(JwtError::WrongAudience("another app client"));
    }
    if !claims
        .scope
        .as_deref()
        .is_some_and(|scope| scope.split(' ').any(|s| s == "openid"))
    {
        return Err(JwtError::WrongAudience("no `openid` scope"));
    }
    Ok(Operator {
        username: claims.username.unwrap_or_else(|| claims.sub.clone()),
        subject: claims.sub,
    })
}

/// A Cognito user pool's access-token verifier, with its keys cached.
pub struct JwtVerifier {
    issuer: String,
    client_id: String,
    http: reqwest::Client,
    keys: Mutex<(KeySet, Option<Instant>)>,
}

impl JwtVerifier {
    pub fn new(issuer: &str, client_id: &str, timeout: Duration) -> Result<Self, JwtError> {
        let http = crate::tls::reqwest_builder()
            .timeout(timeout)
            .build()
            .map_err(|e| JwtError::Keys(format!("HTTP client: {e}")))?;
        Ok(JwtVerifier {
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            http,
            keys: Mutex::new((HashMap::new(), None)),
        })
    }

    /// Verifies `token` now, fetching the pool's keys if they are not known yet.
    pub async fn verify(&self, token: &str) -> Result<Operator, JwtError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut cached = self.keys.lock().await;
        match verify_with(token, &cached.0, &self.issuer, &self.client_id, now) {
            Err(JwtError::UnknownKey)
                if cached.1.is_none_or(|at| at.elapsed() >= REFETCH_EVERY) =>
            {
                cached.1 = Some(Instant::now());
                cached.0 = self.fetch_keys().await?;
                verify_with(token, &cached.0, &self.issuer, &self.client_id, now)
            }
            verdict => verdict,
        }
    }

    async fn fetch_keys(&self) -> Result<KeySet, JwtError> {
        let url = format!("{}/.well-known/jwks.json", self.issuer);
        let failed = |e: reqwest::Error| JwtError::Keys(crate::redact::scrub(&e.to_string()));
        let body = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(failed)?
            .bytes()
            .await
            .map_err(failed)?;
        parse_key_set(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    use serde_json::json;

    const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST";
    const CLIENT: &str = "status-page-client";
    const NOW: i64 = 1_800_000_000;

    /// A 2048-bit RSA key made for these tests alone (PKCS#1 DER): it signs nothing real.
    fn key() -> RsaKeyPair {
        RsaKeyPair::from_der(include_bytes!("testdata/jwt-test-key.der"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn key_set() -> KeySet {
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(key().public());
        let jwks = json!({ "keys": [{
            "kid": "k1", "kty": "RSA", "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(&public.n),
            "e": URL_SAFE_NO_PAD.encode(&public.e),
        }]});
        parse_key_set(jwks.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn token(header: serde_json::Value, claims: serde_json::Value) -> String {
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = key();
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signed.as_bytes(),
            &mut signature,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn claims() -> serde_json::Value {
        json!({
            "iss": ISSUER, "sub": "0b7c-uuid", "exp": NOW + 600, "token_use": "access",
            "client_id": CLIENT, "scope": "openid email", "username": "alice",
        })
    }

    fn header() -> serde_json::Value {
        json!({ "alg": "RS256", "kid": "k1" })
    }

    fn verify(token: &str) -> Result<Operator, JwtError> {
        verify_with(token, &key_set(), ISSUER, CLIENT, NOW)
    }

    fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
        let mut claims = claims();
        claims[field] = value;
        claims
    }

    #[test]
    fn a_pool_access_token_names_its_operator() {
        assert_eq!(
            verify(&token(header(), claims())),
            Ok(Operator {
                subject: "0b7c-uuid".into(),
                username: "alice".into()
            })
        );
    }

    #[test]
    fn anything_else_is_refused() {
        let good = token(header(), claims());
        let (signed, _) = good.rsplit_once('.').unwrap_or_default();
        let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]));
        let tampered = {
            let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
            parts[1] = URL_SAFE_NO_PAD.encode(with("username", json!("mallory")).to_string());
            parts.join(".")
        };
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": "k1"}).to_string()),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        let cases = [
            ("".to_owned(), JwtError::Malformed),
            ("a.b".to_owned(), JwtError::Malformed),
            ("x".repeat(MAX_TOKEN_LEN + 1), JwtError::Malformed),
            (unsigned, JwtError::WrongAlgorithm),
            (
                token(json!({ "alg": "HS256", "kid": "k1" }), claims()),
                JwtError::WrongAlgorithm,
            ),
            (
                token(json!({ "alg": "RS256", "kid": "other" }), claims()),
                JwtError::UnknownKey,
            ),
            (forged, JwtError::BadSignature),
            (tampered, JwtError::BadSignature),
            (
                token(header(), with("exp", json!(NOW - 3600))),
                JwtError::Expired,
            ),
            (
                token(header(), with("nbf", json!(NOW + 3600))),
                JwtError::Expired,
            ),
            (
                token(header(), with("iss", json!("https://evil.example"))),
                JwtError::WrongAudience("another issuer"),
            ),
            (
                token(header(), with("token_use", json!("id"))),
                JwtError::WrongAudience("not an access token"),
            ),
            (
                token(header(), with("client_id", json!("other"))),
                JwtError::WrongAudience("another app client"),
            ),
            (
                token(header(), with("scope", json!("email"))),
                JwtError::WrongAudience("no `openid` scope"),
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(verify(&token), Err(expected.clone()), "{expected}");
        }
    }
}
