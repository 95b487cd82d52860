//! Reading transactions: one, a page (by client, status or creation), the counts, and the
//! sweeper's overdue ones. Cursors are the index's key, checked before use.

use super::*;

impl Reading for DynamoStore {
    async fn get(&self, id: TxId) -> Result<Option<Transaction>, StoreError> {
        self.get_tx(id).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let (index, key_name, key_value) = match (&query.client, query.status) {
            (Some(client), _) => (INDEX_BY_CLIENT, "client_id", client.as_str()),
            (None, Some(status)) => (INDEX_BY_STATUS, "status", status.as_str()),
            (None, None) => (INDEX_BY_CREATED, "kind", TX_KIND),
        };
        let limit = query.limit.clamp(1, 1000) as usize;
        let mut start = query
            .cursor
            .as_deref()
            .map(|cursor| decode_cursor(cursor, key_name, key_value))
            .transpose()?;
        // Ids are UUID v7: a creation-time range is a range of ids.
        let mut key_condition = "#k = :v".to_owned();
        let mut values: Item = HashMap::from([(":v".to_owned(), s(key_value))]);
        if query.from.is_some() || query.to.is_some() {
            let (low, high) = (id_bound(query.from, false), id_bound(query.to, true));
            // DynamoDB refuses a start key outside the key condition: that is the caller's
            // cursor being wrong for this range, not the store being down.
            let cursor_id = start
                .as_ref()
                .and_then(|key| key.get("id"))
                .and_then(|id| id.as_s().ok());
            if cursor_id.is_some_and(|id| *id < low || *id > high) {
                return Err(StoreError::InvalidCursor(
                    "it belongs to a different listing (the date range changed?)".into(),
                ));
            }
            key_condition.push_str(" AND id BETWEEN :id_from AND :id_to");
            values.insert(":id_from".into(), s(low));
            values.insert(":id_to".into(), s(high));
        }
        let mut filters = Vec::new();
        let mut names: HashMap<String, String> = HashMap::from([("#k".into(), key_name.into())]);
        // A client's partition holds every status of its own.
        if let (Some(_), Some(status)) = (&query.client, query.status) {
            filters.push("#st = :status");
            names.insert("#st".into(), "status".into());
            values.insert(":status".into(), s(status.as_str()));
        }
        if let Some(signature) = &query.function_signature {
            filters.push("function_signature = :signature");
            values.insert(":signature".into(), s(signature));
        }
        if let Some(hash) = query.tx_hash {
            filters.push("tx_hash = :hash");
            values.insert(":hash".into(), s(hash.to_string()));
        }
        if let Some(chain_id) = query.chain_id {
            filters.push("chain_id = :chain");
            values.insert(":chain".into(), n(chain_id));
        }
        // As the nonce's reservation writes it (checksummed).
        if let Some(lane) = query.lane {
            filters.push("signer_address = :lane");
            values.insert(":lane".into(), s(lane.to_string()));
        }
        let mut items = Vec::new();
        let mut scanned = 0;
        let next_cursor = loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(&key_condition)
                .set_filter_expression((!filters.is_empty()).then(|| filters.join(" AND ")))
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit(if filters.is_empty() {
                    (limit - items.len()) as i32
                } else {
                    200
                })
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            scanned += out.scanned_count.max(0) as usize;
            let mut page = out.items.unwrap_or_default().into_iter();
            for item in page.by_ref() {
                items.push(item);
                if items.len() == limit {
                    break;
                }
            }
            let more_in_page = page.next().is_some();
            let last_key = out.last_evaluated_key.filter(|key| !key.is_empty());
            if items.len() == limit && (more_in_page || last_key.is_some()) {
                // Continue right after the last item shown.
                break items
                    .last()
                    .map(|item| cursor_key(item, key_name))
                    .transpose()?;
            }
            match last_key {
                None => break None,
                // A filter that matches little must not scan the whole index in one request.
                Some(key) if scanned >= MAX_SCANNED_PER_PAGE => break Some(key),
                Some(key) => start = Some(key),
            }
        };
        Ok(Page {
            items: items.iter().map(from_item).collect::<Result<Vec<_>, _>>()?,
            next_cursor: next_cursor.map(|key| encode_cursor(&key)).transpose()?,
        })
    }

    async fn count_by_status(
        &self,
        cap: u64,
        scope: CountScope<'_>,
    ) -> Result<StatusCounts, StoreError> {
        if let Some(client) = scope.client {
            return self
                .count_client_by_status(cap, client, scope.chain_id)
                .await;
        }
        let mut counts = Vec::new();
        let mut capped = false;
        for status in Status::ALL {
            let mut count: u64 = 0;
            // What was read, filtered or not: the cap bounds the work, not the answer.
            let mut read: u64 = 0;
            let mut start: Option<Item> = None;
            loop {
                let mut query = self
                    .status_query(status)
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .set_exclusive_start_key(start.take());
                if let Some(chain_id) = scope.chain_id {
                    query = query
                        .filter_expression("chain_id = :chain")
                        .expression_attribute_values(":chain", n(chain_id));
                }
                let out = query.send().await.map_err(unavailable)?;
                count += out.count.max(0) as u64;
                read += out.scanned_count.max(0) as u64;
                match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                    Some(_) if read >= cap => {
                        capped = true;
                        break;
                    }
                    Some(key) => start = Some(key),
                    None => break,
                }
            }
            counts.push((status, count));
        }
        Ok(StatusCounts { counts, capped })
    }

    async fn list_overdue(
        &self,
        status: Status,
        due_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Transaction>, StoreError> {
        let cutoff = s(format_time(due_before));
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        // Filters apply after the page limit, so page through until enough or the end.
        loop {
            let out = self
                .status_query(status)
                .filter_expression(
                    "next_attempt_at < :cutoff OR (attribute_not_exists(next_attempt_at) AND updated_at < :cutoff)",
                )
                .expression_attribute_values(":cutoff", cutoff.clone())
                .limit(100)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                found.push(from_item(&item)?);
            }
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(next) if found.len() < limit as usize => start = Some(next),
                _ => break,
            }
        }
        found.truncate(limit as usize);
        Ok(found)
    }
}

impl DynamoStore {
    /// One client's counts: its own partition, read once, only the status of each item.
    async fn count_client_by_status(
        &self,
        cap: u64,
        client: &ClientId,
        chain_id: Option<u64>,
    ) -> Result<StatusCounts, StoreError> {
        let mut counts: Vec<(Status, u64)> = Status::ALL.iter().map(|s| (*s, 0)).collect();
        let mut read: u64 = 0;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(INDEX_BY_CLIENT)
                .key_condition_expression("client_id = :client")
                .expression_attribute_values(":client", s(client.as_str()))
                .projection_expression("#st, chain_id")
                .expression_attribute_names("#st", "status")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                read += 1;
                if let Some(chain_id) = chain_id
                    && parse_attr::<u64>(&item, "chain_id")? != chain_id
                {
                    continue;
                }
                let status: Status = parse_attr(&item, "status")?;
                if let Some((_, n)) = counts.iter_mut().find(|(s, _)| *s == status) {
                    *n += 1;
                }
            }
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(_) if read >= cap => {
                    return Ok(StatusCounts {
                        counts,
                        capped: true,
                    });
                }
                Some(key) => start = Some(key),
                None => {
                    return Ok(StatusCounts {
                        counts,
                        capped: false,
                    });
                }
            }
        }
    }

    /// A query of the transactions in `status`, through the status index.
    pub(super) fn status_query(
        &self,
        status: Status,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_BY_STATUS)
            .key_condition_expression("#status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
    }
}

/// The smallest (or largest) UUID v7 string of the millisecond `at`; open ends are unbounded.
pub(super) fn id_bound(at: Option<OffsetDateTime>, upper: bool) -> String {
    let Some(at) = at else {
        return if upper { "g".into() } else { "0".into() };
    };
    let ms = (at.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    let tail = if upper {
        "ffff-ffff-ffffffffffff"
    } else {
        "0000-0000-000000000000"
    };
    format!(
        "{:08x}-{:04x}-{tail}",
        (ms >> 16) & 0xffff_ffff,
        ms & 0xffff
    )
}

/// The index key of an item, to continue a listing right after it.
pub(super) fn cursor_key(item: &Item, index_key: &str) -> Result<Item, StoreError> {
    ["pk", "id", index_key]
        .iter()
        .map(|name| {
            item.get(*name)
                .cloned()
                .map(|value| ((*name).to_owned(), value))
                .ok_or_else(|| StoreError::Corrupt(format!("listed item has no `{name}`")))
        })
        .collect()
}

/// Cursors are the index's `LastEvaluatedKey`, opaque to clients.
pub(super) fn encode_cursor(key: &Item) -> Result<String, StoreError> {
    let strings = key
        .iter()
        .map(|(k, v)| match v {
            AttributeValue::S(text) => Ok((k.clone(), text.clone())),
            other => Err(StoreError::Corrupt(format!(
                "unexpected key attribute {k}: {other:?}"
            ))),
        })
        .collect::<Result<HashMap<_, _>, _>>()?;
    let json = serde_json::to_vec(&strings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

pub(super) fn decode_cursor(
    cursor: &str,
    index_key: &str,
    index_value: &str,
) -> Result<Item, StoreError> {
    let invalid = |why: &str| StoreError::InvalidCursor(why.to_owned());
    let json = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid("not base64url"))?;
    let strings: HashMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| invalid("not a cursor issued by this API"))?;
    let mut names: Vec<&str> = strings.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut expected = vec!["id", "pk", index_key];
    expected.sort_unstable();
    if names != expected || strings.get(index_key).map(String::as_str) != Some(index_value) {
        return Err(invalid(
            "it belongs to a different listing (status filter changed?)",
        ));
    }
    // The key must be one this table could hold: a forged one is refused here, not by DynamoDB.
    let id_ok = strings
        .get("id")
        .is_some_and(|id| id.parse::<TxId>().is_ok());
    let pk_ok = strings
        .get("pk")
        .zip(strings.get("id"))
        .is_some_and(|(pk, id)| *pk == format!("TX#{id}"));
    if !id_ok || !pk_ok {
        return Err(invalid("not a cursor issued by this API"));
    }
    Ok(strings.into_iter().map(|(k, v)| (k, s(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_bracket_the_ids_of_that_time() {
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            1_800_000_000,
            0,
        ))
        .to_string();
        assert!(
            id_bound(Some(at), false) <= id,
            "{} <= {id}",
            id_bound(Some(at), false)
        );
        assert!(id <= id_bound(Some(at), true));
        let later = at + time::Duration::milliseconds(1);
        assert!(id < id_bound(Some(later), false));
        assert!(id_bound(None, false) < id && id < id_bound(None, true));
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let id = TxId::generate().to_string();
        let key = |pk: &str, id: &str, kind: &str| -> Item {
            HashMap::from([
                ("pk".into(), s(pk)),
                ("id".into(), s(id)),
                ("kind".into(), s(kind)),
            ])
        };
        let good = key(&format!("TX#{id}"), &id, "tx");
        let cursor = encode_cursor(&good).unwrap_or_default();
        assert_eq!(decode_cursor(&cursor, "kind", "tx"), Ok(good));
        let invalid = |cursor: &str, index_key: &str, index_value: &str| {
            matches!(
                decode_cursor(cursor, index_key, index_value),
                Err(StoreError::InvalidCursor(_))
            )
        };
        // Another listing's cursor, garbage, and forged keys.
        assert!(invalid(&cursor, "status", "confirmed"));
        assert!(invalid(&cursor, "kind", "other"));
        assert!(invalid("!!!", "kind", "tx"));
        assert!(invalid("e30", "kind", "tx"));
        for forged in [
            key("IDEM#alice#k", &id, "tx"),
            key(&format!("TX#{id}"), "x", "tx"),
            key("NONCE#1#0x00", "NONCE#1#0x00", "tx"),
        ] {
            let cursor = encode_cursor(&forged).unwrap_or_default();
            assert!(invalid(&cursor, "kind", "tx"), "{forged:?}");
        }
    }
}
