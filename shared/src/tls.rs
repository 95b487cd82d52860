//! One TLS client configuration per process, for every outgoing HTTPS call: the AWS SDK's
//! clients ([`crate::sdk_http`]) and the node's JSON-RPC client ([`crate::adapters::rpc`]).
//!
//! The trusted roots are Mozilla's, compiled in (`webpki-roots`): nothing is read from disk,
//! and nothing is parsed, at start-up. Loading the platform's store instead (what the SDK's and
//! reqwest's default clients do, once per client) reads and parses every certificate file under
//! `/etc/ssl`, which cost 2.5 ms per client, most of a function's cold start (docs/benchmarks.md).
//! AWS endpoints chain to Amazon Trust Services roots, which are in Mozilla's program; a node
//! behind a private CA is not supported.

use std::sync::{Arc, LazyLock};

use rustls::ClientConfig;

static CLIENT_CONFIG: LazyLock<Arc<ClientConfig>> = LazyLock::new(|| Arc::new(build()));

/// The process's TLS client configuration, built on first use.
pub fn client_config() -> Arc<ClientConfig> {
    CLIENT_CONFIG.clone()
}

/// Where every reqwest client in the workspace starts: a builder on the process's TLS
/// configuration. reqwest is built without a crypto provider of its own (`rustls-no-provider`),
/// so `reqwest::Client::new()` would panic; clippy's `disallowed-methods` (clippy.toml) points
/// here instead.
#[allow(clippy::disallowed_methods)]
pub fn reqwest_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured((*client_config()).clone())
}

fn build() -> ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // The provider is named rather than taken from a process default, so no other crate's
    // choice can change it; TLS 1.2 and 1.3, as rustls's safe defaults.
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .unwrap_or_else(|e| {
            // The ring provider supports both default protocol versions; this is a build
            // without them, and no HTTPS call could work.
            panic!("the TLS provider rejects its own default protocol versions: {e}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reqwest_client_builds_on_it() {
        // With no provider of reqwest's own, this is the path that must not panic.
        assert!(reqwest_builder().build().is_ok());
    }

    #[test]
    fn one_configuration_with_the_compiled_in_roots_is_shared() {
        let a = client_config();
        let b = client_config();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(
            webpki_roots::TLS_SERVER_ROOTS.len() > 100,
            "Mozilla's program has well over 100 roots"
        );
        // Amazon Root CA 1, which AWS endpoints chain to, is among them.
        assert!(
            webpki_roots::TLS_SERVER_ROOTS
                .iter()
                .any(|anchor| String::from_utf8_lossy(anchor.subject.as_ref())
                    .contains("Amazon Root CA 1")),
            "Amazon Root CA 1 is a trusted root"
        );
    }
}
