//! Shared core of tx-broadcaster: the domain, request validation, the ports the functions
//! depend on, and the adapters that implement them over AWS and JSON-RPC.

pub mod adapters;
pub mod auth;
pub mod aws;
pub mod backoff;
pub mod batch;
pub mod by_chain;
pub mod chain;
pub mod config;
pub mod domain;
pub mod jwt;
pub mod lanes;
pub mod metrics;
pub mod nonce_filler;
pub mod ports;
pub mod redact;
pub mod retry;
pub mod sdk_http;
#[cfg(feature = "stream")]
pub mod stream;
pub mod telemetry;
pub mod tls;
pub mod validation;
pub mod view;
pub mod webhooks;
