//! Items to transactions and back; anything malformed is [`StoreError::Corrupt`].

use super::*;

/// The fields of a signed transaction, as stored.
pub(super) fn signed_fields(change: Change, signed: &SignedTx) -> Change {
    change
        .set("tx_hash", s(signed.hash.to_string()))
        .set("raw_tx", s(signed.raw.to_string()))
        .set("target", s(signed.to.to_string()))
        .set("gas_limit", n(signed.gas_limit))
        .set("max_fee_per_gas", n(signed.max_fee_per_gas))
        .set(
            "max_priority_fee_per_gas",
            n(signed.max_priority_fee_per_gas),
        )
        .when("nonce = :nonce", [(":nonce", n(signed.nonce))])
}

/// One history entry, as stored in a transaction's `history` list.
pub fn history_to_attribute(entry: &HistoryEntry) -> AttributeValue {
    let mut map: Item = HashMap::from([
        ("at".to_owned(), s(format_time(entry.at))),
        ("event".to_owned(), s(entry.event.as_str())),
    ]);
    if let Some(detail) = &entry.detail {
        // Details are shown to readers of the transaction: no URL, ARN or secret.
        map.insert("detail".into(), s(crate::redact::scrub(detail)));
    }
    if let Some(hash) = entry.tx_hash {
        map.insert("tx_hash".into(), s(hash.to_string()));
    }
    if let Some(attempt) = entry.attempt {
        map.insert("attempt".into(), n(attempt));
    }
    if let Some(at) = entry.next_attempt_at {
        map.insert("next_attempt_at".into(), s(format_time(at)));
    }
    if let Some(ms) = entry.backoff_ceiling_ms {
        map.insert("backoff_ceiling_ms".into(), n(ms));
    }
    AttributeValue::M(map)
}

pub(super) fn history_from_attribute(value: &AttributeValue) -> Result<HistoryEntry, StoreError> {
    let AttributeValue::M(map) = value else {
        return Err(StoreError::Corrupt("history entry is not a map".into()));
    };
    Ok(HistoryEntry {
        at: parse_time(map, "at")?,
        event: parse_attr(map, "event")?,
        detail: parse_opt(map, "detail")?,
        tx_hash: parse_opt(map, "tx_hash")?,
        attempt: parse_opt(map, "attempt")?,
        next_attempt_at: parse_opt::<String>(map, "next_attempt_at")?
            .map(|t| {
                OffsetDateTime::parse(&t, &Rfc3339)
                    .map_err(|e| StoreError::Corrupt(format!("history next_attempt_at `{t}`: {e}")))
            })
            .transpose()?,
        backoff_ceiling_ms: parse_opt(map, "backoff_ceiling_ms")?,
    })
}

/// A transaction as stored: the item the API first writes.
pub fn to_item(tx: &Transaction) -> Item {
    let mut item: Item = HashMap::from([
        ("pk".into(), s(tx_pk(tx.id))),
        ("kind".into(), s(TX_KIND)),
        ("id".into(), s(tx.id.to_string())),
        ("status".into(), s(tx.status.as_str())),
        ("message_type".into(), s(&tx.message_type)),
        ("function_signature".into(), s(&tx.function_signature)),
        ("data".into(), s(tx.data.to_string())),
        ("chain_id".into(), n(tx.chain_id)),
        ("attempts".into(), n(tx.attempts)),
        ("created_at".into(), s(format_time(tx.created_at))),
        ("updated_at".into(), s(format_time(tx.updated_at))),
    ]);
    if let Some(key) = &tx.idempotency_key {
        item.insert("idempotency_key".into(), s(key));
    }
    if let Some(client) = &tx.client {
        item.insert("client_id".into(), s(client.as_str()));
    }
    item
}

/// Maps a stored item back to a transaction; anything malformed is [`StoreError::Corrupt`].
pub fn from_item(item: &Item) -> Result<Transaction, StoreError> {
    let nonce: Option<u64> = parse_opt(item, "nonce")?;
    let from: Option<Address> = parse_opt(item, "signer_address")?;
    let signed = match (
        nonce,
        from,
        parse_opt::<Address>(item, "target")?,
        parse_opt::<B256>(item, "tx_hash")?,
        parse_opt::<Bytes>(item, "raw_tx")?,
    ) {
        (Some(nonce), Some(from), Some(to), Some(hash), Some(raw)) => Some(SignedTx {
            nonce,
            from,
            to,
            hash,
            raw,
            gas_limit: parse_attr(item, "gas_limit")?,
            max_fee_per_gas: parse_attr(item, "max_fee_per_gas")?,
            max_priority_fee_per_gas: parse_attr(item, "max_priority_fee_per_gas")?,
        }),
        _ => None,
    };
    let status: Status = parse_attr(item, "status")?;
    let inclusion = parse_opt::<u64>(item, "block_number")?.map(|block_number| Inclusion {
        block_number,
        succeeded: status != Status::Reverted,
    });
    Ok(Transaction {
        id: parse_attr(item, "id")?,
        status,
        message_type: parse_attr(item, "message_type")?,
        function_signature: parse_attr(item, "function_signature")?,
        data: parse_attr(item, "data")?,
        chain_id: parse_attr(item, "chain_id")?,
        client: parse_opt(item, "client_id")?,
        idempotency_key: parse_opt(item, "idempotency_key")?,
        nonce,
        from,
        signed,
        inclusion,
        attempts: parse_opt(item, "attempts")?.unwrap_or(0),
        last_error: parse_opt(item, "last_error")?,
        next_attempt_at: parse_opt::<String>(item, "next_attempt_at")?
            .map(|t| {
                OffsetDateTime::parse(&t, &Rfc3339).map_err(|e| {
                    StoreError::Corrupt(format!("attribute `next_attempt_at` = `{t}`: {e}"))
                })
            })
            .transpose()?,
        dead_lettered: matches!(item.get("dead_lettered"), Some(AttributeValue::Bool(true))),
        generation: parse_opt(item, "generation")?.unwrap_or(0),
        follow_token: parse_opt(item, "follow_token")?,
        history: match item.get("history") {
            None | Some(AttributeValue::Null(_)) => Vec::new(),
            Some(AttributeValue::L(entries)) => entries
                .iter()
                .map(history_from_attribute)
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "history is not a list: {other:?}"
                )));
            }
        },
        created_at: parse_time(item, "created_at")?,
        updated_at: parse_time(item, "updated_at")?,
    })
}

pub(super) fn attr_text<'a>(item: &'a Item, name: &str) -> Result<Option<&'a str>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(text)) | Some(AttributeValue::N(text)) => Ok(Some(text)),
        Some(other) => Err(StoreError::Corrupt(format!(
            "attribute `{name}` has an unexpected type: {other:?}"
        ))),
    }
}

pub(super) fn parse_opt<T>(item: &Item, name: &str) -> Result<Option<T>, StoreError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    attr_text(item, name)?
        .map(|text| {
            text.parse::<T>()
                .map_err(|e| StoreError::Corrupt(format!("attribute `{name}` = `{text}`: {e}")))
        })
        .transpose()
}

pub(super) fn parse_attr<T>(item: &Item, name: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    parse_opt(item, name)?
        .ok_or_else(|| StoreError::Corrupt(format!("attribute `{name}` is missing")))
}

pub(super) fn parse_time(item: &Item, name: &str) -> Result<OffsetDateTime, StoreError> {
    let text: String = parse_attr(item, name)?;
    OffsetDateTime::parse(&text, &Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("attribute `{name}` = `{text}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Idempotency;

    fn sample() -> Transaction {
        let created_at = OffsetDateTime::from_unix_timestamp(1_700_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Transaction::received(&NewTransaction {
            id: TxId::generate(),
            message_type: "add_weight(address _addr, uint256 _weight)".into(),
            function_signature: "add_weight(address,uint256)".into(),
            data: Bytes::from(vec![0x1c, 0x41, 0x74, 0x2f]),
            chain_id: 31337,
            client: "alice".parse().unwrap_or_else(|e| panic!("{e}")),
            idempotency: Some(Idempotency {
                key: "k-1".into(),
                request_fingerprint: B256::repeat_byte(1),
            }),
            created_at,
        })
    }

    #[test]
    fn a_new_item_maps_back_to_the_same_transaction() {
        let tx = sample();
        assert_eq!(from_item(&to_item(&tx)), Ok(tx));
    }

    #[test]
    fn signed_fields_map_back() {
        let tx = sample();
        let mut item = to_item(&tx);
        item.insert("status".into(), s("signed"));
        item.insert("nonce".into(), n(7));
        item.insert(
            "signer_address".into(),
            s(Address::repeat_byte(3).to_string()),
        );
        item.insert("target".into(), s(Address::repeat_byte(4).to_string()));
        item.insert("tx_hash".into(), s(B256::repeat_byte(5).to_string()));
        item.insert("raw_tx".into(), s("0x02f8"));
        item.insert("gas_limit".into(), n(21_000));
        item.insert("max_fee_per_gas".into(), n(2_000_000_000u128));
        item.insert("max_priority_fee_per_gas".into(), n(1u128));
        let mapped = from_item(&item).unwrap_or_else(|e| panic!("{e}"));
        let signed = mapped
            .signed
            .unwrap_or_else(|| panic!("signed fields lost"));
        assert_eq!(signed.nonce, 7);
        assert_eq!(signed.to, Address::repeat_byte(4));
        assert_eq!(signed.raw.as_ref(), &[0x02, 0xf8]);
        assert_eq!(mapped.status, Status::Signed);
    }

    #[test]
    fn malformed_items_are_corrupt_not_panics() {
        let mut item = to_item(&sample());
        item.insert("status".into(), s("exploded"));
        assert!(matches!(from_item(&item), Err(StoreError::Corrupt(_))));
        let mut item = to_item(&sample());
        item.remove("id");
        assert!(matches!(from_item(&item), Err(StoreError::Corrupt(_))));
        let mut item = to_item(&sample());
        item.insert("nonce".into(), AttributeValue::Bool(true));
        assert!(matches!(from_item(&item), Err(StoreError::Corrupt(_))));
    }
}
