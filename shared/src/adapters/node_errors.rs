//! What a node's JSON-RPC error means, read from its wording.
//!
//! Nodes agree on codes only loosely (`-32000` covers most pool answers), so the message
//! decides. One table lists the wordings of the clients a relayer meets (geth and its forks
//! Arbitrum and OP, Erigon, Nethermind, Besu, anvil, and hosted providers' gateways), first
//! match wins. Matching ignores case, and `_` and `-` count as spaces, so Besu's
//! `NONCE_TOO_LOW` reads as geth's `nonce too low`.
//!
//! A wording nobody listed is [`NodeError::Unrecognized`]: retried with backoff up to the attempt
//! cap like a transient one, then reviewed, and the broadcaster fills its nonce if the bytes
//! are nowhere (so later transactions are not held behind it). Treating it as final at once
//! would fill a nonce or end a transaction over an answer that a node under load or resyncing
//! gives for a minute; the cap bounds what a truly final unknown answer costs.

use crate::ports::NodeError;

/// What a wording means for the transaction that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    /// The node already has these exact bytes.
    Known,
    /// The nonce is used on chain (by us or by someone else: decided on chain).
    NonceUsed,
    /// Fees too low for the pool or the block: re-price.
    Underpriced,
    /// The account can't pay: fund it.
    Unfunded,
    /// The call reverts.
    Reverts,
    /// These bytes will never be accepted by this node as they are.
    Final,
    /// The node's pool has no room for the sender's next transaction: blocks make room.
    PoolFull,
    /// The node, its pool or its gateway may answer otherwise later.
    Transient,
    /// Not in the table.
    Unlisted,
}

use Meaning::*;

/// `(wording, meaning)`, most specific first. The comment names who says it.
const WORDINGS: &[(&str, Meaning)] = &[
    // Already in the pool or the chain.
    ("already known", Known),     // geth, OP, Arbitrum, Erigon
    ("already imported", Known),  // anvil, older geth
    ("known transaction", Known), // older geth, parity
    ("alreadyknown", Known),      // Nethermind AlreadyKnown
    ("already exists", Known),    // Erigon ALREADY_EXISTS
    // The nonce.
    ("nonce too low", NonceUsed), // geth, anvil, OP, Arbitrum, Besu NONCE_TOO_LOW
    ("nonce is too low", NonceUsed), // some gateways
    ("nonce has already been used", NonceUsed), // Alchemy, Infura
    ("oldnonce", NonceUsed),      // Nethermind OldNonce
    ("nonce too high", Transient), // geth, Arbitrum: a gap below it will close
    ("nonce too far in future", Transient), // Besu NONCE_TOO_FAR_IN_FUTURE_FOR_SENDER
    ("noncegap", Transient),      // Nethermind NonceGap
    // Bytes that are invalid as such (before the fee rules, which some share words with).
    (
        "max priority fee per gas higher than max fee per gas",
        Final,
    ), // geth, anvil
    ("max priority fee per gas exceeds max fee per gas", Final), // Besu
    ("tip higher than fee cap", Final),                          // older geth
    ("intrinsic gas too low", Final),                            // geth, anvil, Arbitrum, OP
    ("intrinsic gas exceeds gas limit", Final),                  // Besu
    ("exceeds block gas limit", Final), // geth, Besu EXCEEDS_BLOCK_GAS_LIMIT
    ("gaslimitexceeded", Final),        // Nethermind GasLimitExceeded
    ("oversized data", Final),          // geth
    ("invalid sender", Final),          // geth
    ("invalid signature", Final),       // Besu INVALID_SIGNATURE
    ("invalid chain id", Final),        // geth, anvil
    ("wrong chain id", Final),          // Besu WRONG_CHAIN_ID
    ("only replay protected", Final),   // geth: EIP-155 required over RPC
    ("transaction type not supported", Final), // geth
    ("notsupportedtxtype", Final),      // Nethermind
    ("exceeds the configured cap", Final), // geth, OP: tx fee over --rpc.txfeecap
    ("tx feecap exceeded", Final),      // Besu TX_FEECAP_EXCEEDED
    // Fees.
    ("replacement transaction underpriced", Underpriced), // geth, anvil, OP
    ("replacement underpriced", Underpriced),             // Besu REPLACEMENT_UNDERPRICED
    ("transaction underpriced", Underpriced),             // geth, OP
    ("underpriced", Underpriced),                         // Erigon, Arbitrum
    ("less than block base fee", Underpriced),            // geth, anvil, Arbitrum
    ("below current base fee", Underpriced),              // Besu GAS_PRICE_BELOW_CURRENT_BASE_FEE
    ("fee cap less than", Underpriced),                   // older geth
    ("gas price too low", Underpriced),                   // Besu GAS_PRICE_TOO_LOW
    ("feetoolow", Underpriced),                           // Nethermind FeeTooLow(ToCompete)
    ("feetoolowtocompete", Underpriced),                  // Nethermind FeeTooLowToCompete
    ("fee too low", Underpriced),                         // Erigon FEE_TOO_LOW
    // Funds.
    ("insufficient funds", Unfunded), // geth, anvil, OP, Arbitrum, Erigon
    ("insufficientfunds", Unfunded),  // Nethermind InsufficientFunds
    ("upfront cost exceeds", Unfunded), // Besu UPFRONT_COST_EXCEEDS_BALANCE
    // The call.
    ("execution reverted", Reverts),
    ("transaction reverted", Reverts), // hardhat: "Transaction reverted without a reason string" // everyone, on estimate or call
    ("revert", Reverts),               // ganache: "VM Exception …: revert"
    ("reverted with", Reverts),        // hardhat: "reverted with reason string …"
    // The node or its gateway, for now.
    ("txpool is full", PoolFull), // geth, OP; also a per-sender limit's
    ("gas limit reached", Transient), // geth: the block is full
    ("header not found", Transient), // geth behind a load balancer, resyncing
    ("missing trie node", Transient), // geth pruned state, resyncing
    ("context deadline exceeded", Transient), // geth, Erigon
    ("rate limit", Transient),
    ("rate limited", Transient),
    ("too many requests", Transient),
    ("internal error", Transient),
];

/// JSON-RPC error payloads, by the wording nodes use.
pub fn classify_rpc_error(code: i64, message: &str) -> NodeError {
    let meaning = meaning(code, message);
    let text = || message.to_owned();
    match meaning {
        Known => NodeError::AlreadyKnown,
        NonceUsed => NodeError::NonceTooLow(text()),
        Underpriced => NodeError::Underpriced(text()),
        Unfunded => NodeError::InsufficientFunds(text()),
        Reverts => NodeError::Reverted(text()),
        Final => NodeError::Rejected {
            code,
            message: text(),
        },
        PoolFull => NodeError::PoolFull(text()),
        Transient => NodeError::Unavailable(format!("node error {code}: {message}")),
        Unlisted => NodeError::Unrecognized(format!("code {code}: {message}")),
    }
}

fn meaning(code: i64, message: &str) -> Meaning {
    let normal: String = message
        .chars()
        .map(|c| match c {
            '_' | '-' => ' ',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    if let Some(&(_, meaning)) = WORDINGS.iter().find(|(w, _)| has_words(&normal, w)) {
        return meaning;
    }
    match code {
        // EIP-1474: execution error (the call reverts, with data).
        3 => Reverts,
        // EIP-1474: limit exceeded; JSON-RPC internal error.
        -32005 | -32603 => Transient,
        _ => Unlisted,
    }
}

/// Whether `words` occurs in `text` as whole words: "unknown transaction" does not say "known
/// transaction", nor "irreverted" "revert".
fn has_words(text: &str, words: &str) -> bool {
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
    text.match_indices(words).any(|(at, _)| {
        boundary(text[..at].chars().next_back())
            && boundary(text[at + words.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// `(node, code, message, meaning)`: the answers each client gives.
    const ANSWERS: &[(&str, i64, &str, Meaning)] = &[
        ("geth", -32000, "already known", Known),
        (
            "geth",
            -32000,
            "nonce too low: next nonce 5, tx nonce 4",
            NonceUsed,
        ),
        ("geth", -32000, "nonce too high", Transient),
        (
            "geth",
            -32000,
            "replacement transaction underpriced",
            Underpriced,
        ),
        (
            "geth",
            -32000,
            "transaction underpriced: tip needed 1, tip permitted 0",
            Underpriced,
        ),
        (
            "geth",
            -32000,
            "max fee per gas less than block base fee: address 0x1, maxFeePerGas: 1, baseFee: 7",
            Underpriced,
        ),
        (
            "geth",
            -32000,
            "insufficient funds for gas * price + value: balance 0, tx cost 1",
            Unfunded,
        ),
        (
            "geth",
            -32000,
            "intrinsic gas too low: gas 0, minimum needed 21000",
            Final,
        ),
        ("geth", -32000, "exceeds block gas limit", Final),
        ("geth", -32000, "invalid sender", Final),
        (
            "geth",
            -32000,
            "only replay-protected (EIP-155) transactions allowed over RPC",
            Final,
        ),
        (
            "geth",
            -32000,
            "tx fee (2.00 ether) exceeds the configured cap (1.00 ether)",
            Final,
        ),
        (
            "geth",
            -32000,
            "max priority fee per gas higher than max fee per gas",
            Final,
        ),
        ("geth", -32000, "txpool is full", PoolFull),
        ("geth", -32000, "header not found", Transient),
        (
            "geth",
            -32000,
            "missing trie node 1f2e (path ) state 0x1 is not available",
            Transient,
        ),
        ("geth", -32000, "context deadline exceeded", Transient),
        ("geth", 3, "execution reverted: not allowed", Reverts),
        ("anvil", -32003, "transaction already imported", Known),
        ("anvil", -32003, "Nonce too low", NonceUsed),
        (
            "anvil",
            -32003,
            "max fee per gas less than block base fee",
            Underpriced,
        ),
        (
            "anvil",
            -32003,
            "Insufficient funds for gas * price + value",
            Unfunded,
        ),
        ("Erigon", -32000, "ALREADY_EXISTS", Known),
        ("Erigon", -32000, "NONCE_TOO_LOW", NonceUsed),
        ("Erigon", -32000, "FEE_TOO_LOW", Underpriced),
        ("Erigon", -32000, "INSUFFICIENT_FUNDS", Unfunded),
        ("Nethermind", -32010, "AlreadyKnown", Known),
        (
            "Nethermind",
            -32010,
            "OldNonce, Current nonce: 5, nonce of rejected tx: 4",
            NonceUsed,
        ),
        ("Nethermind", -32010, "FeeTooLowToCompete", Underpriced),
        (
            "Nethermind",
            -32010,
            "InsufficientFunds, Account balance: 0",
            Unfunded,
        ),
        ("Nethermind", -32010, "NonceGap, Future nonce", Transient),
        ("Nethermind", -32010, "GasLimitExceeded", Final),
        ("Besu", -32000, "TRANSACTION_ALREADY_KNOWN", Known),
        ("Besu", -32000, "NONCE_TOO_LOW", NonceUsed),
        ("Besu", -32000, "REPLACEMENT_UNDERPRICED", Underpriced),
        (
            "Besu",
            -32000,
            "GAS_PRICE_BELOW_CURRENT_BASE_FEE",
            Underpriced,
        ),
        ("Besu", -32000, "UPFRONT_COST_EXCEEDS_BALANCE", Unfunded),
        ("Besu", -32000, "INTRINSIC_GAS_EXCEEDS_GAS_LIMIT", Final),
        ("Besu", -32000, "WRONG_CHAIN_ID", Final),
        ("Besu", -32000, "TX_FEECAP_EXCEEDED", Final),
        (
            "Besu",
            -32000,
            "NONCE_TOO_FAR_IN_FUTURE_FOR_SENDER",
            Transient,
        ),
        ("Arbitrum", -32000, "nonce too high", Transient),
        (
            "Arbitrum",
            -32000,
            "max fee per gas less than block base fee",
            Underpriced,
        ),
        ("OP", -32000, "transaction underpriced", Underpriced),
        ("gateway", -32005, "limit exceeded", Transient),
        ("gateway", 429, "Too Many Requests", Transient),
        ("gateway", -32000, "nonce has already been used", NonceUsed),
        ("gateway", -32603, "internal error", Transient),
        ("gateway", 429, "Your app has been rate limited", Transient),
        (
            "hardhat",
            -32603,
            "Transaction reverted without a reason string",
            Reverts,
        ),
        (
            "anyone",
            -32000,
            "something nobody has said before",
            Unlisted,
        ),
        // Whole words only: a refusal that contains a listed wording inside a word.
        ("anyone", -32000, "unknown transaction type", Unlisted),
        ("anyone", -32000, "reverted state unavailable", Unlisted),
        (
            "hardhat",
            -32603,
            "VM Exception while processing transaction: reverted with reason string 'no'",
            Reverts,
        ),
    ];

    #[test]
    fn every_clients_wording_means_what_it_says() {
        for &(node, code, message, expected) in ANSWERS {
            assert_eq!(meaning(code, message), expected, "{node}: {message}");
        }
    }

    #[test]
    fn unknown_wording_is_retried_and_final_wording_is_not() {
        let unknown = classify_rpc_error(-32000, "the node is having a bad day");
        assert!(matches!(unknown, NodeError::Unrecognized(_)), "{unknown:?}");
        assert!(unknown.is_retryable());
        let last = classify_rpc_error(-32000, "intrinsic gas too low");
        assert!(matches!(last, NodeError::Rejected { .. }) && !last.is_retryable());
        assert!(NodeError::Timeout(Duration::from_secs(1)).is_retryable());
        assert!(classify_rpc_error(-32000, "already known") == NodeError::AlreadyKnown);
    }

    #[test]
    fn every_listed_wording_is_reachable() {
        // An entry shadowed by an earlier, shorter one would never decide anything.
        for (i, (wording, meaning)) in WORDINGS.iter().enumerate() {
            let first = WORDINGS.iter().position(|(w, _)| has_words(wording, w));
            assert_eq!(first, Some(i), "`{wording}` ({meaning:?}) is shadowed");
        }
    }
}
