//! What a transaction may cost, and how it is built: pure rules, no I/O.
//!
//! - [`eip1559`] is the one builder of the transactions this service signs: the signer's first
//!   signature, the broadcaster's replacements and the nonce filler's self-transfers.
//! - [`SpendCaps::check`] is what a transaction may spend at its first signature.
//! - [`replacement_fees`] is how a stuck transaction is re-priced at the same nonce.

use alloy::consensus::TxEip1559;
use alloy::primitives::{Address, Bytes, TxKind, U256};

/// The two EIP-1559 fee caps, in wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

/// The unsigned transaction: a call (or a transfer) with no value, at `nonce`.
pub fn eip1559(
    chain_id: u64,
    nonce: u64,
    to: Address,
    gas_limit: u64,
    fees: Fees,
    input: Bytes,
) -> TxEip1559 {
    TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas: fees.max_fee_per_gas,
        max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
        to: TxKind::Call(to),
        value: U256::ZERO,
        access_list: Default::default(),
        input,
    }
}

/// What one transaction may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendCaps {
    /// A call that needs more gas than this is never signed.
    pub max_gas_limit: u64,
    /// Never more than this per gas, at the first signature or in a replacement.
    pub max_fee_per_gas: u128,
}

impl Default for SpendCaps {
    fn default() -> Self {
        SpendCaps {
            max_gas_limit: 2_000_000,
            max_fee_per_gas: 500_000_000_000,
        }
    }
}

/// Why a transaction may not be signed as planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverCap {
    /// For good: the call itself needs too much gas.
    GasLimit { needed: u64, cap: u64 },
    /// For now: the network asks more per gas than the cap; fees may fall.
    FeePerGas { asked: u128, cap: u128 },
}

impl std::fmt::Display for OverCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OverCap::GasLimit { needed, cap } => write!(
                f,
                "gas_limit_above_cap: the call needs a gas limit of {needed}, above the cap of {cap} (MAX_GAS_LIMIT)"
            ),
            OverCap::FeePerGas { asked, cap } => write!(
                f,
                "fee_above_cap: the network asks up to {asked} wei per gas, above the cap of {cap} (MAX_FEE_PER_GAS_WEI); waiting for fees to fall"
            ),
        }
    }
}

impl SpendCaps {
    /// The caps apply to the first signature, not only to replacements. Gas is checked first:
    /// a call that can never be signed should not wait for fees to fall.
    pub fn check(&self, gas_limit: u64, fees: Fees) -> Result<(), OverCap> {
        if gas_limit > self.max_gas_limit {
            return Err(OverCap::GasLimit {
                needed: gas_limit,
                cap: self.max_gas_limit,
            });
        }
        if fees.max_fee_per_gas > self.max_fee_per_gas {
            return Err(OverCap::FeePerGas {
                asked: fees.max_fee_per_gas,
                cap: self.max_fee_per_gas,
            });
        }
        Ok(())
    }
}

/// How much a replacement raises both fee caps when nobody says (`FEE_BUMP_PERCENT`).
pub const DEFAULT_BUMP_PERCENT: u32 = 12;

/// How much a replacement must outbid the transaction it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BumpPolicy {
    /// Both caps rise by at least this much (nodes require 10%).
    pub bump_percent: u32,
    /// No replacement pays more than this per gas.
    pub max_fee_per_gas: u128,
}

/// What to bid for a transaction stuck below the base fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replacement {
    Bid(Fees),
    /// Any bid the node would take is above the cap: wait (an alarm's matter).
    CapReached {
        needed: u128,
        cap: u128,
    },
}

/// What the market asks now: the next block's base fee, and the tip that gets a transaction
/// included (`eth_maxPriorityFeePerGas`; 0 when the question is only the base fee).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Market {
    pub base_fee: u128,
    pub tip: u128,
}

/// Both caps raised by at least the bump (rounded up), the tip at least the market's and at
/// least 1 wei, and the max fee at least twice the base fee plus the tip, so the bid survives
/// a few rising blocks; never over the cap, and never a bid the next block could not include.
pub fn replacement_fees(current: Fees, market: Market, policy: BumpPolicy) -> Replacement {
    let bump = |fee: u128| {
        fee.saturating_add(
            fee.saturating_mul(u128::from(policy.bump_percent))
                .div_ceil(100),
        )
    };
    let priority = bump(current.max_priority_fee_per_gas)
        .max(market.tip)
        .max(1);
    let least = bump(current.max_fee_per_gas);
    let wanted = least.max(market.base_fee.saturating_mul(2).saturating_add(priority));
    let max_fee = wanted.min(policy.max_fee_per_gas);
    // The least the node would take as a replacement, and the least the next block would
    // include: a bid under either is no bid.
    let includable = market.base_fee.saturating_add(priority);
    if max_fee < least || max_fee < includable {
        return Replacement::CapReached {
            needed: least.max(includable),
            cap: policy.max_fee_per_gas,
        };
    }
    Replacement::Bid(Fees {
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: priority,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the base fee asks.
    fn at(base_fee: u128) -> Market {
        Market { base_fee, tip: 0 }
    }

    const GWEI: u128 = 1_000_000_000;

    fn fees(max: u128, tip: u128) -> Fees {
        Fees {
            max_fee_per_gas: max,
            max_priority_fee_per_gas: tip,
        }
    }

    #[test]
    fn replacements_outbid_by_the_bump_and_clear_the_base_fee_under_the_cap() {
        let policy = BumpPolicy {
            bump_percent: 12,
            max_fee_per_gas: 500 * GWEI,
        };
        // (current max, current tip, base fee) → expected
        let table: &[(u128, u128, u128, Replacement)] = &[
            // The base fee doubled past the bid: 2 × base + tip.
            (
                10 * GWEI,
                GWEI,
                20 * GWEI,
                Replacement::Bid(fees(40 * GWEI + 1_120_000_000, 1_120_000_000)),
            ),
            // A small base fee: the bump alone decides.
            (
                100 * GWEI,
                2 * GWEI,
                GWEI,
                Replacement::Bid(fees(112 * GWEI, 2_240_000_000)),
            ),
            // Rounding up: 12% of 1 wei is 1 wei; a zero tip becomes 1 wei.
            (1, 0, 0, Replacement::Bid(fees(2, 1))),
            // Right at the cap: the cap is the bid.
            (
                440 * GWEI,
                GWEI,
                300 * GWEI,
                Replacement::Bid(fees(500 * GWEI, 1_120_000_000)),
            ),
            // The bump itself passes the cap: wait, and say what it would take.
            (
                450 * GWEI,
                GWEI,
                300 * GWEI,
                Replacement::CapReached {
                    needed: 504 * GWEI,
                    cap: 500 * GWEI,
                },
            ),
        ];
        for &(max, tip, base_fee, expected) in table {
            assert_eq!(
                replacement_fees(fees(max, tip), at(base_fee), policy),
                expected,
                "max {max}, tip {tip}, base {base_fee}"
            );
        }
    }

    #[test]
    fn a_tip_below_the_market_is_raised_to_it() {
        let policy = BumpPolicy {
            bump_percent: 10,
            max_fee_per_gas: 500 * GWEI,
        };
        let market = Market {
            base_fee: GWEI,
            tip: 3 * GWEI,
        };
        assert_eq!(
            replacement_fees(fees(10 * GWEI, GWEI / 10), market, policy),
            Replacement::Bid(fees(11 * GWEI, 3 * GWEI))
        );
        // A tip already above the market is bumped as usual.
        assert_eq!(
            replacement_fees(fees(10 * GWEI, 5 * GWEI), market, policy),
            Replacement::Bid(fees(11 * GWEI, 5_500_000_000))
        );
    }

    #[test]
    fn every_bid_outbids_by_at_least_the_bump() {
        let policy = BumpPolicy {
            bump_percent: 10,
            max_fee_per_gas: u128::MAX,
        };
        for max in [1u128, 9, 10, 11, 99, 1_000, GWEI, 7 * GWEI + 3] {
            for tip in [0u128, 1, 3, GWEI] {
                for base in [0u128, 1, GWEI, 300 * GWEI] {
                    let Replacement::Bid(bid) = replacement_fees(fees(max, tip), at(base), policy)
                    else {
                        panic!("no cap, yet no bid for {max}/{tip}/{base}");
                    };
                    assert!(bid.max_fee_per_gas * 100 >= max * 110, "{max} → {bid:?}");
                    assert!(
                        bid.max_priority_fee_per_gas * 100 >= tip * 110,
                        "{tip} → {bid:?}"
                    );
                    assert!(bid.max_priority_fee_per_gas <= bid.max_fee_per_gas);
                    assert!(bid.max_fee_per_gas >= 2 * base);
                }
            }
        }
        // Nothing overflows at the top of the range.
        assert!(matches!(
            replacement_fees(fees(u128::MAX, u128::MAX), at(u128::MAX), policy),
            Replacement::Bid(_) | Replacement::CapReached { .. }
        ));
    }

    #[test]
    fn caps_refuse_gas_for_good_and_fees_for_now() {
        let caps = SpendCaps {
            max_gas_limit: 100_000,
            max_fee_per_gas: 50 * GWEI,
        };
        assert_eq!(caps.check(100_000, fees(50 * GWEI, GWEI)), Ok(()));
        assert_eq!(
            caps.check(100_001, fees(60 * GWEI, GWEI)),
            Err(OverCap::GasLimit {
                needed: 100_001,
                cap: 100_000
            }),
            "gas first: it never passes"
        );
        let over = caps.check(21_000, fees(50 * GWEI + 1, GWEI));
        assert_eq!(
            over,
            Err(OverCap::FeePerGas {
                asked: 50 * GWEI + 1,
                cap: 50 * GWEI
            })
        );
        assert!(
            over.err()
                .is_some_and(|e| e.to_string().starts_with("fee_above_cap: "))
        );
    }

    #[test]
    fn the_builder_makes_a_valueless_call() {
        let tx = eip1559(
            31337,
            7,
            Address::repeat_byte(0x7a),
            30_000,
            fees(3, 1),
            Bytes::from(vec![0x1c, 0x41, 0x74, 0x2f]),
        );
        assert_eq!((tx.chain_id, tx.nonce, tx.gas_limit), (31337, 7, 30_000));
        assert_eq!(tx.to, TxKind::Call(Address::repeat_byte(0x7a)));
        assert_eq!(tx.value, U256::ZERO);
        assert_eq!((tx.max_fee_per_gas, tx.max_priority_fee_per_gas), (3, 1));
    }
}
