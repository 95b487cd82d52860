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
/// transaction's lookup can be trusted. Ask it, and the lookups it guards, of one node
/// ([`ChainNode::one`]): of a pool, each answer could come from another node.
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

/// How deep a nonce must be used before a stranger is taken to have used it: three blocks,
/// the confirmations a receipt needs, or half a minute of the chain's blocks, whichever is
/// most. Backends lag by time more than by blocks: on a chain of quarter-second blocks, three
/// blocks is less than a lagging backend's usual second or two.
pub fn stranger_depth(confirmations: u64, chain_id: u64) -> u64 {
    confirmations
        .max(3)
        .max(crate::domain::chains::blocks_in(chain_id, STRANGER_LAG))
}

/// The lag behind a load balancer that a stranger's use of a nonce must outlast.
pub const STRANGER_LAG: std::time::Duration = std::time::Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stranger_is_judged_under_half_a_minute_of_blocks_at_least() {
        // Ethereum: three blocks already outlast it; its confirmations are more.
        assert_eq!(stranger_depth(1, 1), 3);
        assert_eq!(stranger_depth(12, 1), 12);
        // Arbitrum: 120 quarter-second blocks.
        assert_eq!(stranger_depth(3, 42_161), 120);
        assert_eq!(stranger_depth(1, 31_337), 3);
    }
}
