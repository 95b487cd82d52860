//! [`ChainNode`] over JSON-RPC, with a timeout on every call.

use std::future::Future;
use std::time::Duration;

use alloy::network::TransactionBuilder as _;
use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::rpc::types::TransactionRequest;
use alloy::transports::{RpcError, TransportErrorKind};

use crate::domain::Inclusion;
use crate::ports::{ChainNode, GasPlan, Head, Lookup, NodeError};

pub use super::node_errors::classify_rpc_error;

/// Head-room over `eth_estimateGas`: state can change between estimate and inclusion.
const GAS_LIMIT_MARGIN_PERCENT: u64 = 20;

#[derive(Debug, Clone)]
pub struct RpcNode {
    provider: RootProvider,
    timeout: Duration,
}

impl RpcNode {
    pub fn new(url: &str, timeout: Duration) -> Result<Self, NodeError> {
        // The URL usually carries the provider's API key: its parts never appear in output.
        crate::redact::register_url_secrets(url);
        let url = url
            .parse()
            .map_err(|e| NodeError::Unavailable(format!("the RPC URL is not a URL: {e}")))?;
        // The process's one TLS configuration: reqwest's own would load the platform's
        // certificate store again, at init (see `crate::tls`).
        let http = crate::tls::reqwest_builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| NodeError::Unavailable(format!("HTTP client: {e}")))?;
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_reqwest(http, url)
            .root()
            .clone();
        Ok(RpcNode { provider, timeout })
    }

    /// Every call is bounded twice: by the HTTP client and here, so a slow body or a stuck
    /// connection pool can't outlive the timeout either.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, RpcError<TransportErrorKind>>>,
    ) -> Result<T, NodeError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(|e| classify(e, self.timeout)),
            Err(_) => Err(NodeError::Timeout(self.timeout)),
        }
    }
}

impl ChainNode for RpcNode {
    async fn pending_nonce(&self, address: Address) -> Result<u64, NodeError> {
        self.bounded(async { self.provider.get_transaction_count(address).pending().await })
            .await
    }

    async fn mined_nonce(&self, address: Address) -> Result<u64, NodeError> {
        self.bounded(async { self.provider.get_transaction_count(address).latest().await })
            .await
    }

    async fn mined_nonce_at(&self, address: Address, block: u64) -> Result<u64, NodeError> {
        self.bounded(async {
            self.provider
                .get_transaction_count(address)
                .number(block)
                .await
        })
        .await
    }

    async fn lookup(&self, hash: B256) -> Result<Lookup, NodeError> {
        if let Some(inclusion) = self.inclusion(hash).await? {
            return Ok(Lookup::Included(inclusion));
        }
        let known = self
            .bounded(async { self.provider.get_transaction_by_hash(hash).await })
            .await?;
        Ok(if known.is_some() {
            Lookup::Pending
        } else {
            Lookup::Unknown
        })
    }

    async fn head(&self) -> Result<Head, NodeError> {
        let block = self
            .bounded(async {
                self.provider
                    .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                    .await
            })
            .await?
            .ok_or_else(|| NodeError::Unavailable("the node has no latest block".into()))?;
        Ok(Head {
            number: block.header.number,
            base_fee: block.header.base_fee_per_gas.map(u128::from).unwrap_or(0),
        })
    }

    async fn plan_gas(
        &self,
        from: Address,
        to: Address,
        data: &Bytes,
    ) -> Result<GasPlan, NodeError> {
        let request = TransactionRequest::default()
            .with_from(from)
            .with_to(to)
            .with_input(data.clone());
        let estimate = self
            .bounded(async { self.provider.estimate_gas(request).await })
            .await?;
        let fees = self
            .bounded(async { self.provider.estimate_eip1559_fees().await })
            .await?;
        Ok(GasPlan {
            gas_limit: estimate.saturating_mul(100 + GAS_LIMIT_MARGIN_PERCENT) / 100,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
        })
    }

    async fn send_raw(&self, raw: &Bytes) -> Result<B256, NodeError> {
        self.bounded(async {
            self.provider
                .send_raw_transaction(raw)
                .await
                .map(|pending| *pending.tx_hash())
        })
        .await
    }

    async fn inclusion(&self, hash: B256) -> Result<Option<Inclusion>, NodeError> {
        let receipt = self
            .bounded(async { self.provider.get_transaction_receipt(hash).await })
            .await?;
        Ok(receipt.and_then(|r| {
            r.block_number.map(|block_number| Inclusion {
                block_number,
                succeeded: r.status(),
            })
        }))
    }

    async fn balance(&self, address: Address) -> Result<u128, NodeError> {
        let wei = self
            .bounded(async { self.provider.get_balance(address).await })
            .await?;
        // No account holds more than u128 wei; a node that says so is wrong, and we saturate.
        Ok(u128::try_from(wei).unwrap_or(u128::MAX))
    }

    async fn block_number(&self) -> Result<u64, NodeError> {
        self.bounded(async { self.provider.get_block_number().await })
            .await
    }

    async fn on_canonical_chain(&self, hash: B256) -> Result<bool, NodeError> {
        let receipt = self
            .bounded(async { self.provider.get_transaction_receipt(hash).await })
            .await?;
        let Some((Some(number), Some(block_hash))) =
            receipt.map(|r| (r.block_number, r.block_hash))
        else {
            return Ok(false);
        };
        let block = self
            .bounded(async { self.provider.get_block_by_number(number.into()).await })
            .await?;
        Ok(block.is_some_and(|b| b.header.hash == block_hash))
    }

    async fn suggested_tip(&self) -> Result<u128, NodeError> {
        self.bounded(async { self.provider.get_max_priority_fee_per_gas().await })
            .await
    }

    async fn chain_id(&self) -> Result<u64, NodeError> {
        self.bounded(async { self.provider.get_chain_id().await })
            .await
    }
}

/// The one place node errors are classified. Their text is scrubbed here, where it is made:
/// transport errors name the node's URL, and a provider may echo its API key.
fn classify(err: RpcError<TransportErrorKind>, timeout: Duration) -> NodeError {
    scrubbed(classify_raw(err, timeout))
}

fn scrubbed(err: NodeError) -> NodeError {
    use crate::redact::scrub;
    match err {
        NodeError::NonceTooLow(m) => NodeError::NonceTooLow(scrub(&m)),
        NodeError::Underpriced(m) => NodeError::Underpriced(scrub(&m)),
        NodeError::InsufficientFunds(m) => NodeError::InsufficientFunds(scrub(&m)),
        NodeError::Reverted(m) => NodeError::Reverted(scrub(&m)),
        NodeError::Unavailable(m) => NodeError::Unavailable(scrub(&m)),
        NodeError::Unrecognized(m) => NodeError::Unrecognized(scrub(&m)),
        NodeError::PoolFull(m) => NodeError::PoolFull(scrub(&m)),
        NodeError::Rejected { code, message } => NodeError::Rejected {
            code,
            message: scrub(&message),
        },
        other => other,
    }
}

fn classify_raw(err: RpcError<TransportErrorKind>, timeout: Duration) -> NodeError {
    match err {
        RpcError::ErrorResp(payload) => classify_rpc_error(payload.code, &payload.message),
        RpcError::Transport(TransportErrorKind::HttpError(http)) => {
            NodeError::Unavailable(format!("HTTP {}: {}", http.status, truncate(&http.body)))
        }
        RpcError::Transport(kind) => {
            // reqwest says "error sending request"; the cause (a timeout, a reset) is below.
            let text = with_causes(&kind);
            if text.contains("timed out") || text.contains("timeout") {
                NodeError::Timeout(timeout)
            } else {
                NodeError::Unavailable(text)
            }
        }
        other => NodeError::Unavailable(other.to_string()),
    }
}

fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

fn truncate(text: &str) -> &str {
    let end = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
    &text[..end]
}
