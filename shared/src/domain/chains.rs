//! What the service assumes of the chains it knows.

/// How many blocks (the inclusion block counting as one) a transaction must be under before it
/// is `confirmed`, when `CONFIRMATIONS` does not say: deep enough that a reorganisation of the
/// chain's usual depth can't take it away. A reorganisation deeper than this, after
/// confirmation, is repaired by the watchdog, not prevented.
///
/// | chain | id | blocks | why |
/// | --- | --- | --- | --- |
/// | Ethereum | 1 | 12 | ~2.4 min; proof-of-stake reorgs are a block or two deep, finality ~13 min |
/// | Sepolia, Holesky | 11155111, 17000 | 6 | test networks, same consensus |
/// | BNB Smart Chain | 56 | 15 | fast blocks, short forks |
/// | Polygon PoS, Amoy | 137, 80002 | 64 | forks of dozens of blocks have happened |
/// | Arbitrum One, OP, Base | 42161, 10, 8453 | 3 | a sequencer orders; its own reorgs are rare and shallow |
/// | Avalanche C-Chain | 43114 | 1 | final at inclusion |
/// | anvil, hardhat | 31337 | 1 | local: blocks come on demand |
/// | anything else | | 12 | as Ethereum |
pub fn default_confirmations(chain_id: u64) -> u64 {
    match chain_id {
        1 => 12,
        11_155_111 | 17_000 => 6,
        56 => 15,
        137 | 80_002 => 64,
        42_161 | 10 | 8_453 => 3,
        43_114 | 31_337 => 1,
        _ => 12,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chain_waits_at_least_one_block_and_unknown_ones_as_ethereum() {
        for chain in [1, 56, 137, 42_161, 43_114, 31_337, 999_999] {
            assert!(default_confirmations(chain) >= 1);
        }
        assert_eq!(default_confirmations(999_999), default_confirmations(1));
        assert_eq!(default_confirmations(31_337), 1);
    }
}
