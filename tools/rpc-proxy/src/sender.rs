//! A node's per-sender pool limit: who sent a raw transaction, at which nonce, and how many
//! of that sender's transactions the node holds pending.

use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::{Address, Bytes};

/// The sender and nonce of a signed, encoded transaction (hex, as `eth_sendRawTransaction`
/// carries it); `None` for anything that is not one (the node answers it).
pub(crate) fn sender_and_nonce(raw_hex: &str) -> Option<(Address, u64)> {
    let raw: Bytes = raw_hex.parse().ok()?;
    let envelope = TxEnvelope::decode_2718(&mut raw.as_ref()).ok()?;
    let sender = envelope
        .signature()
        .recover_address_from_prehash(&envelope.signature_hash())
        .ok()?;
    Some((sender, envelope.nonce()))
}

/// The raw transaction of a single `eth_sendRawTransaction` request, if it is one.
pub(crate) fn raw_sent(body: &[u8]) -> Option<String> {
    let call: serde_json::Value = serde_json::from_slice(body).ok()?;
    if call["method"] != "eth_sendRawTransaction" {
        return None;
    }
    call["params"][0].as_str().map(str::to_owned)
}

/// The error a full pool answers, for the request's id.
pub(crate) fn pool_full(body: &[u8]) -> serde_json::Value {
    let id = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .map(|call| call["id"].clone())
        .unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": -32000, "message": "txpool is full" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_single_raw_send_is_looked_at() {
        let send =
            br#"{"jsonrpc":"2.0","id":7,"method":"eth_sendRawTransaction","params":["0x02"]}"#;
        assert_eq!(raw_sent(send).as_deref(), Some("0x02"));
        assert_eq!(raw_sent(br#"{"method":"eth_chainId","params":[]}"#), None);
        assert_eq!(raw_sent(b"not json"), None);
        assert_eq!(sender_and_nonce("0x02"), None);
        assert_eq!(sender_and_nonce("nonsense"), None);
        assert_eq!(pool_full(send)["id"], 7);
        assert_eq!(pool_full(send)["error"]["message"], "txpool is full");
    }
}
