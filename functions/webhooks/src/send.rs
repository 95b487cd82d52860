//! Posting one delivery: only to addresses the policy allows, resolved once and connected to
//! as resolved (a name can't point elsewhere between the check and the connection), never
//! following a redirect, within a timeout, and reading nothing of the answer but its status.

use std::net::SocketAddr;
use std::time::Duration;

use tx_shared::webhooks::{AddressPolicy, DeliveryMessage, check_url};

/// How long a name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a connection (TLS included) may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why nothing, or nothing useful, was sent. The text is for the delivery log, which the
/// client reads: a few words, never the URL, the endpoint's answer or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The endpoint is somewhere no delivery may go.
    #[error("{0}")]
    Refused(String),
    /// No connection, no answer in time, or a broken one.
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct HttpSender {
    policy: AddressPolicy,
    timeout: Duration,
    /// Fixed answers for names, asked before DNS (as `/etc/hosts` is): the tests' way to make
    /// a name resolve to a private address.
    hosts: Vec<(String, std::net::IpAddr)>,
}

impl HttpSender {
    pub fn new(policy: AddressPolicy, timeout: Duration) -> Self {
        HttpSender {
            policy,
            timeout,
            hosts: Vec::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn with_host(mut self, name: &str, ip: std::net::IpAddr) -> Self {
        self.hosts.push((name.to_owned(), ip));
        self
    }

    /// Posts `message`'s body to `url` with its signature; the endpoint's HTTP status.
    pub async fn post(
        &self,
        url: &str,
        message: &DeliveryMessage,
        signature: &str,
    ) -> Result<u16, SendError> {
        let url = check_url(url, self.policy).map_err(|e| SendError::Refused(e.to_string()))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let (name, addresses) = match url.host() {
            Some(url::Host::Ipv4(ip)) => (None, vec![SocketAddr::new(ip.into(), port)]),
            Some(url::Host::Ipv6(ip)) => (None, vec![SocketAddr::new(ip.into(), port)]),
            Some(url::Host::Domain(name)) => {
                let fixed = self.hosts.iter().find(|(host, _)| host == name);
                let addresses = match fixed {
                    Some((_, ip)) => vec![SocketAddr::new(*ip, port)],
                    None => resolve(name, port).await?,
                };
                (Some(name.to_owned()), addresses)
            }
            None => return Err(SendError::Refused("the URL has no host".into())),
        };
        // Every address, not just one: a name with one public and one private address would
        // otherwise reach the private one on a retry.
        if addresses.iter().any(|a| !self.policy.allows(a.ip())) {
            return Err(SendError::Refused(
                "the host resolves to a private, loopback, link-local or reserved address".into(),
            ));
        }
        // Plain HTTP is for a receiver on this machine only: never in the clear elsewhere.
        if url.scheme() != "https" && addresses.iter().any(|a| !a.ip().is_loopback()) {
            return Err(SendError::Refused(
                "plain http reaches only this machine; the host resolves elsewhere".into(),
            ));
        }
        let mut client = tx_shared::tls::reqwest_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(self.timeout))
            .no_proxy()
            .user_agent(concat!(
                "tx-broadcaster-webhooks/",
                env!("CARGO_PKG_VERSION")
            ));
        if let Some(name) = &name {
            client = client.resolve_to_addrs(name, &addresses);
        }
        let client = client
            .build()
            .map_err(|e| SendError::Failed(format!("no HTTP client: {}", e.without_url())))?;
        let response = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(tx_broadcaster_client::webhook::SIGNATURE_HEADER, signature)
            .header("Tx-Broadcaster-Event-Id", &message.event_id)
            .header("Tx-Broadcaster-Event", message.kind.as_str())
            .body(message.body.clone())
            .send()
            .await
            .map_err(|e| SendError::Failed(self.describe(&e)))?;
        // The body is not read: dropping the answer closes the connection.
        Ok(response.status().as_u16())
    }

    fn describe(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            format!("no answer within {} s", self.timeout.as_secs())
        } else if e.is_connect() {
            "could not connect".into()
        } else {
            "the connection failed before an answer".into()
        }
    }
}

async fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>, SendError> {
    let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port)))
        .await
        .map_err(|_| SendError::Failed("the host did not resolve in time".into()))?
        .map_err(|_| SendError::Failed("the host does not resolve".into()))?;
    let addresses: Vec<SocketAddr> = found.collect();
    if addresses.is_empty() {
        return Err(SendError::Failed("the host does not resolve".into()));
    }
    Ok(addresses)
}
