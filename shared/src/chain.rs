//! Facts about the chain that a decision may rest on, read so that one node's lag can't make
//! them up.

use alloy::primitives::Address;

use crate::ports::{ChainNode, NodeError};

/// Whether the chain used `nonce` of `address` at least `depth` blocks below its head.
///
/// Behind a load balancer, one node may answer "the nonce is used" while another, a block or
/// two behind, answers "no such transaction" for the very transaction that used it. Deciding
/// that a stranger took the nonce on those two answers would sign the call a second time. A
/// nonce used `depth` blocks deep is in every backend lagging less than that, so its
/// transaction's lookup can be trusted.
pub async fn used_deeply<N: ChainNode>(
    node: &N,
    address: Address,
    nonce: u64,
    depth: u64,
) -> Result<bool, NodeError> {
    let head = node.block_number().await?;
    let deep = head.saturating_sub(depth);
    Ok(node.mined_nonce_at(address, deep).await? > nonce)
}

/// How deep a nonce must be used before a stranger is taken to have used it: three blocks, or
/// the confirmations a receipt needs if more.
pub fn stranger_depth(confirmations: u64) -> u64 {
    confirmations.max(3)
}
