//! Storing new requests, each with its idempotency key, and withdrawing one whose
//! publication failed.

use super::*;

impl Intake for DynamoStore {
    async fn insert_new(&self, new: &NewTransaction) -> Result<Inserted, StoreError> {
        let tx = Transaction::received(new);
        let item = to_item(&tx);
        let Some(idempotency) = &new.idempotency else {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            return match result {
                Ok(_) => Ok(Inserted::Created(tx)),
                // A v7 id collision is practically impossible; refuse rather than overwrite.
                Err(e) if is_conditional_failure(&e) => Err(StoreError::Unavailable(format!(
                    "transaction id {} already exists",
                    new.id
                ))),
                Err(e) => Err(unavailable(e)),
            };
        };

        let expires_at =
            OffsetDateTime::now_utc().unix_timestamp() + IDEMPOTENCY_TTL.as_secs() as i64;
        let idem_item: Item = HashMap::from([
            ("pk".into(), s(idem_pk(Some(&new.client), &idempotency.key))),
            ("transaction_id".into(), s(new.id.to_string())),
            (
                "fingerprint".into(),
                s(idempotency.request_fingerprint.to_string()),
            ),
            ("expires_at".into(), n(expires_at)),
        ]);
        let result = self
            .client
            .transact_write_items()
            .transact_items(put_if_absent(&self.table, item)?)
            .transact_items(put_if_absent(&self.table, idem_item)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Inserted::Created(tx)),
            Err(e) if is_transaction_canceled(&e) => {
                // The key exists: answer with what it created, if the request is the same.
                let Some(existing) = self
                    .get_item(idem_pk(Some(&new.client), &idempotency.key))
                    .await?
                else {
                    return Err(StoreError::Unavailable(
                        "idempotency record changed concurrently; retry".into(),
                    ));
                };
                let existing_id: TxId = parse_attr(&existing, "transaction_id")?;
                let fingerprint: B256 = parse_attr(&existing, "fingerprint")?;
                if fingerprint != idempotency.request_fingerprint {
                    return Err(StoreError::IdempotencyConflict {
                        existing: existing_id,
                    });
                }
                match self.get_tx(existing_id).await? {
                    Some(tx) => Ok(Inserted::Duplicate(tx)),
                    None => Err(StoreError::Unavailable(
                        "the transaction of this idempotency key is being removed; retry".into(),
                    )),
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn discard_unpublished(&self, tx: &Transaction) -> Result<bool, StoreError> {
        let delete_tx = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(tx_pk(tx.id)))
            .condition_expression(
                "#status = :received AND attribute_not_exists(nonce) AND attribute_not_exists(lease_token)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":received", s(Status::Received.as_str()))
            .build()
            .map_err(build_error)?;
        // The token makes the SDK's own retry of a delete that committed but timed out succeed
        // again, instead of failing its condition on the missing item.
        let mut request = self
            .client
            .transact_write_items()
            .client_request_token(tx.id.to_string())
            .transact_items(TransactWriteItem::builder().delete(delete_tx).build());
        if let Some(key) = &tx.idempotency_key {
            let delete_key = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(idem_pk(tx.client.as_ref(), key)))
                .condition_expression("transaction_id = :id")
                .expression_attribute_values(":id", s(tx.id.to_string()))
                .build()
                .map_err(build_error)?;
            request =
                request.transact_items(TransactWriteItem::builder().delete(delete_key).build());
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_transaction_canceled(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}
