//! What the service assumes of the chains it knows.

use std::time::Duration;

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

/// The chain's usual time between blocks, for turning a wait into blocks. A chain not listed
/// is taken to be as fast as the fastest listed one, so a wait counted in its blocks is never
/// shorter than meant (a stranger's nonce judged too shallow, a tip re-priced too soon); set
/// `REPRICE_AFTER_BLOCKS` for a slower one.
///
/// | chain | id | block time |
/// | --- | --- | --- |
/// | Ethereum, Sepolia, Holesky | 1, 11155111, 17000 | 12 s |
/// | BNB Smart Chain and its test network | 56, 97 | 0.75 s |
/// | Polygon PoS, Amoy, OP, OP Sepolia, Base, Base Sepolia, Avalanche C-Chain, Fuji | 137, 80002, 10, 11155420, 8453, 84532, 43114, 43113 | 2 s |
/// | Arbitrum One, Arbitrum Sepolia | 42161, 421614 | 0.25 s |
/// | anvil, hardhat (blocks on demand) | 31337 | 12 s, as Ethereum |
/// | anything else | | 0.25 s |
pub fn block_time(chain_id: u64) -> Duration {
    match chain_id {
        1 | 11_155_111 | 17_000 | 31_337 => Duration::from_secs(12),
        56 | 97 => Duration::from_millis(750),
        137 | 80_002 | 10 | 11_155_420 | 8_453 | 84_532 | 43_114 | 43_113 => Duration::from_secs(2),
        _ => Duration::from_millis(250),
    }
}

/// How many of the chain's blocks usually come in `wait` (at least one).
pub fn blocks_in(chain_id: u64, wait: Duration) -> u64 {
    let per_block = block_time(chain_id).as_millis().max(1);
    u64::try_from(wait.as_millis().div_ceil(per_block))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// How many blocks a bid may stay pending, above the base fee, before a tip below the
/// market's (`eth_maxPriorityFeePerGas`) is re-priced, when `REPRICE_AFTER_BLOCKS` does not
/// say: a minute of blocks (5 on Ethereum, 240 on Arbitrum and unlisted chains), long enough that a bid the next
/// blocks would take is not replaced (each replacement costs a signature and at least the
/// bump).
pub fn default_reprice_after_blocks(chain_id: u64) -> u64 {
    blocks_in(chain_id, Duration::from_secs(60))
}

/// The chain's usual name, for `/health` (`CHAIN_NAME` says otherwise).
pub fn name(chain_id: u64) -> String {
    let known = match chain_id {
        1 => "ethereum",
        11_155_111 => "sepolia",
        17_000 => "holesky",
        56 => "bsc",
        97 => "bsc-testnet",
        137 => "polygon",
        80_002 => "amoy",
        10 => "optimism",
        11_155_420 => "optimism-sepolia",
        8_453 => "base",
        84_532 => "base-sepolia",
        42_161 => "arbitrum",
        421_614 => "arbitrum-sepolia",
        43_114 => "avalanche",
        43_113 => "fuji",
        31_337 => "anvil",
        _ => return format!("chain-{chain_id}"),
    };
    known.to_owned()
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

    #[test]
    fn a_stuck_tip_is_repriced_after_a_minute_of_blocks_on_every_chain() {
        assert_eq!(default_reprice_after_blocks(1), 5);
        assert_eq!(default_reprice_after_blocks(56), 80);
        assert_eq!(default_reprice_after_blocks(137), 30);
        assert_eq!(default_reprice_after_blocks(42_161), 240);
        // Unlisted: as fast as the fastest, so the wait is never shorter than a minute.
        assert_eq!(default_reprice_after_blocks(999_999), 240);
    }

    #[test]
    fn any_wait_is_at_least_one_block() {
        assert_eq!(blocks_in(1, Duration::ZERO), 1);
        assert_eq!(blocks_in(1, Duration::from_secs(13)), 2);
        assert_eq!(blocks_in(42_161, Duration::MAX), u64::MAX);
    }
}
