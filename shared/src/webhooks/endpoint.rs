//! A client's endpoints, and the secrets that sign what is sent to them.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::address::{AddressPolicy, UrlError, check_url};
use super::event::EventKind;

/// Endpoints per client.
pub const MAX_ENDPOINTS: usize = 10;
/// The longest description of an endpoint, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 200;
/// How long a rotated-out secret keeps signing beside the new one, unless the rotation says.
pub const DEFAULT_ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);
/// The longest overlap a rotation may ask for.
pub const MAX_ROTATION_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);
/// Secrets kept per endpoint: the current one and the two newest still overlapping (rotating
/// again and again within an overlap ends the oldest's early).
const MAX_SECRETS: usize = 3;
/// Event names a request may list.
const MAX_EVENT_NAMES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("`events` must name at least one of: {}", names())]
    NoEvents,
    #[error("`events` lists `{0}`, which is not one of: {known}", known = names())]
    UnknownEvent(String),
    #[error("`events` lists more than {MAX_EVENT_NAMES} names")]
    TooManyEvents,
    #[error(
        "`description` is longer than {MAX_DESCRIPTION_LEN} characters or has control characters"
    )]
    Description,
    #[error("a client has at most {MAX_ENDPOINTS} endpoints; remove one first")]
    TooMany,
    #[error("`overlap_seconds` must be at most {}", MAX_ROTATION_OVERLAP.as_secs())]
    Overlap,
}

fn names() -> String {
    EventKind::ALL
        .iter()
        .map(|kind| kind.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An endpoint's id: `we_` and 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EndpointId(String);

impl EndpointId {
    pub fn generate() -> Self {
        EndpointId(format!("we_{}", uuid::Uuid::now_v7().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an endpoint id: `we_` and 32 hex digits")]
pub struct InvalidEndpointId;

impl FromStr for EndpointId {
    type Err = InvalidEndpointId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("we_").ok_or(InvalidEndpointId)?;
        if hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(EndpointId(s.to_owned()))
        } else {
            Err(InvalidEndpointId)
        }
    }
}

impl TryFrom<String> for EndpointId {
    type Error = InvalidEndpointId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<EndpointId> for String {
    fn from(id: EndpointId) -> String {
        id.0
    }
}

/// A signing secret: `whsec_` and 32 random bytes (base64url). Shown to its client once;
/// never in `Debug`, logs or any later answer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Secret(format!(
            "whsec_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// The secret itself: for signing, and for the one answer that hands it over.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// A secret and, once rotated out, when it stops signing (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecret {
    pub secret: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// One registered endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: EndpointId,
    pub url: String,
    /// Sorted, each once.
    pub events: Vec<EventKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Newest first: the current secret, then any rotated out and still overlapping.
    pub secrets: Vec<SigningSecret>,
    /// Unix seconds.
    pub created_at: i64,
}

/// What a client asks to register.
#[derive(Debug, Clone, Default)]
pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub events: &'a [String],
    pub description: Option<&'a str>,
}

impl Endpoint {
    /// A new endpoint with a fresh secret, if the request holds.
    pub fn register(
        new: &NewEndpoint<'_>,
        policy: AddressPolicy,
        now: i64,
    ) -> Result<Endpoint, EndpointError> {
        let url = check_url(new.url, policy)?;
        if new.events.len() > MAX_EVENT_NAMES {
            return Err(EndpointError::TooManyEvents);
        }
        let mut events = new
            .events
            .iter()
            .map(|name| {
                EventKind::ALL
                    .into_iter()
                    .find(|kind| kind.as_str() == name)
                    .ok_or_else(|| EndpointError::UnknownEvent(name.chars().take(40).collect()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        events.sort();
        events.dedup();
        if events.is_empty() {
            return Err(EndpointError::NoEvents);
        }
        let description = new.description.map(str::trim).filter(|d| !d.is_empty());
        if description.is_some_and(|d| {
            d.chars().count() > MAX_DESCRIPTION_LEN || d.chars().any(char::is_control)
        }) {
            return Err(EndpointError::Description);
        }
        Ok(Endpoint {
            id: EndpointId::generate(),
            url: url.to_string(),
            events,
            description: description.map(str::to_owned),
            secrets: vec![SigningSecret {
                secret: Secret::generate(),
                expires_at: None,
            }],
            created_at: now,
        })
    }

    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.contains(&kind)
    }

    /// The secrets that sign a delivery sent at `now`, newest first.
    pub fn secrets_in_force(&self, now: i64) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|s| s.secret.expose())
            .collect()
    }

    /// The secret that signs from now on (returned, to be shown once). The current one keeps
    /// signing beside it for `overlap` (none: it stops now); expired ones are dropped.
    pub fn rotate(&mut self, now: i64, overlap: Duration) -> Result<Secret, EndpointError> {
        if overlap > MAX_ROTATION_OVERLAP {
            return Err(EndpointError::Overlap);
        }
        let until = now.saturating_add(i64::try_from(overlap.as_secs()).unwrap_or(i64::MAX));
        for old in &mut self.secrets {
            old.expires_at = Some(old.expires_at.map_or(until, |at| at.min(until)));
        }
        self.secrets
            .retain(|s| s.expires_at.is_some_and(|at| at > now));
        let fresh = Secret::generate();
        self.secrets.insert(
            0,
            SigningSecret {
                secret: fresh.clone(),
                expires_at: None,
            },
        );
        self.secrets.truncate(MAX_SECRETS);
        Ok(fresh)
    }

    /// When the newest rotated-out secret stops signing, if one still does at `now`.
    pub fn overlap_ends_at(&self, now: i64) -> Option<i64> {
        self.secrets
            .iter()
            .filter_map(|s| s.expires_at)
            .filter(|at| *at > now)
            .max()
    }
}

/// A client's endpoints, with the version the store guards a change with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    pub endpoints: Vec<Endpoint>,
    /// 0: nothing stored yet.
    pub version: u64,
}

impl Registry {
    pub fn add(&mut self, endpoint: Endpoint) -> Result<(), EndpointError> {
        if self.endpoints.len() >= MAX_ENDPOINTS {
            return Err(EndpointError::TooMany);
        }
        self.endpoints.push(endpoint);
        Ok(())
    }

    /// Whether it was there.
    pub fn remove(&mut self, id: &EndpointId) -> bool {
        let before = self.endpoints.len();
        self.endpoints.retain(|e| &e.id != id);
        self.endpoints.len() != before
    }

    pub fn get(&self, id: &EndpointId) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| &e.id == id)
    }

    pub fn get_mut(&mut self, id: &EndpointId) -> Option<&mut Endpoint> {
        self.endpoints.iter_mut().find(|e| &e.id == id)
    }

    pub fn wanting(&self, kind: EventKind) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().filter(move |e| e.wants(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn endpoint(events: &[&str]) -> Endpoint {
        let events = names(events);
        Endpoint::register(
            &NewEndpoint {
                url: "https://hooks.example.com/tx",
                events: &events,
                description: Some("  payments  "),
            },
            AddressPolicy::PUBLIC_ONLY,
            NOW,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_registration_names_known_events_and_gets_a_secret_of_its_own() {
        let one = endpoint(&["confirmed", "accepted", "confirmed"]);
        assert_eq!(one.events, [EventKind::Accepted, EventKind::Confirmed]);
        assert_eq!(one.description.as_deref(), Some("payments"));
        assert!(one.wants(EventKind::Confirmed) && !one.wants(EventKind::Reverted));
        let secret = one.secrets_in_force(NOW);
        assert_eq!(secret.len(), 1);
        assert!(secret[0].starts_with("whsec_") && secret[0].len() == 6 + 43);
        assert_ne!(secret, endpoint(&["accepted"]).secrets_in_force(NOW));
        assert!(one.id.as_str().parse::<EndpointId>().is_ok());
        // Never in what is logged.
        assert!(!format!("{one:?}").contains(secret[0]));
    }

    #[test]
    fn a_wrong_registration_says_what_is_wrong() {
        let register = |url: &str, events: &[&str], description: Option<&str>| {
            let events = names(events);
            Endpoint::register(
                &NewEndpoint {
                    url,
                    events: &events,
                    description,
                },
                AddressPolicy::PUBLIC_ONLY,
                NOW,
            )
            .err()
        };
        let url = "https://hooks.example.com/";
        assert_eq!(register(url, &[], None), Some(EndpointError::NoEvents));
        assert_eq!(
            register(url, &["settled"], None),
            Some(EndpointError::UnknownEvent("settled".into()))
        );
        assert_eq!(
            register(url, &["accepted"], Some(&"x".repeat(201))),
            Some(EndpointError::Description)
        );
        assert_eq!(
            register(url, &["accepted"], Some("a\u{7}b")),
            Some(EndpointError::Description)
        );
        assert_eq!(
            register("http://hooks.example.com/", &["accepted"], None),
            Some(EndpointError::Url(UrlError::NotHttps))
        );
        assert_eq!(
            register(url, &["accepted"; 17], None),
            Some(EndpointError::TooManyEvents)
        );
    }

    #[test]
    fn a_rotation_overlaps_for_the_window_asked_then_the_old_secret_stops() {
        let mut one = endpoint(&["confirmed"]);
        let old = one.secrets_in_force(NOW)[0].to_owned();
        let new = one
            .rotate(NOW, Duration::from_secs(3600))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one.secrets_in_force(NOW), [new.expose(), old.as_str()]);
        assert_eq!(one.overlap_ends_at(NOW), Some(NOW + 3600));
        assert_eq!(one.secrets_in_force(NOW + 3600), [new.expose()]);
        // Rotating again ends the oldest's overlap no later than the new one's; at most three.
        for _ in 0..5 {
            one.rotate(NOW + 10, Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(one.secrets.len() <= 3);
        assert!(!one.secrets_in_force(NOW + 10).contains(&old.as_str()));
        assert_eq!(one.secrets_in_force(NOW + 70).len(), 1);
        // No overlap: the old secret stops at once.
        let current = one.secrets_in_force(NOW + 100)[0].to_owned();
        one.rotate(NOW + 100, Duration::ZERO)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!one.secrets_in_force(NOW + 100).contains(&current.as_str()));
        assert_eq!(
            one.rotate(NOW, MAX_ROTATION_OVERLAP + Duration::from_secs(1)),
            Err(EndpointError::Overlap)
        );
    }

    #[test]
    fn a_client_has_at_most_ten_endpoints() {
        let mut registry = Registry::default();
        for _ in 0..MAX_ENDPOINTS {
            registry
                .add(endpoint(&["accepted"]))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(
            registry.add(endpoint(&["accepted"])),
            Err(EndpointError::TooMany)
        );
        let id = registry.endpoints[3].id.clone();
        assert!(registry.remove(&id));
        assert!(!registry.remove(&id));
        assert_eq!(
            registry.wanting(EventKind::Accepted).count(),
            MAX_ENDPOINTS - 1
        );
    }

    #[test]
    fn endpoint_ids_are_checked() {
        for bad in [
            "",
            "we_",
            "we_XYZ",
            "wh_0123456789abcdef0123456789abcdef",
            "we_0123456789abcdef0123456789abcdeF",
        ] {
            assert!(bad.parse::<EndpointId>().is_err(), "{bad}");
        }
        assert!(
            "we_0123456789abcdef0123456789abcdef"
                .parse::<EndpointId>()
                .is_ok()
        );
    }
}
