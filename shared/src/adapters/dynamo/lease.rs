//! The right to sign: a lease one invocation holds on a transaction, and the signature it
//! stores under it.

use super::*;

impl SigningLease for DynamoStore {
    async fn claim_for_signing(&self, id: TxId, lease: Duration) -> Result<Claim, StoreError> {
        let now = now_millis();
        let token = LeaseToken(format!("{:032x}", rand::random::<u128>()));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tx_pk(id)))
            .update_expression(
                "SET lease_token = :token, lease_until = :until, updated_at = :now_text",
            )
            .condition_expression(
                "#status IN (:received, :retrying) AND attribute_not_exists(tx_hash) \
                 AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":received", s(Status::Received.as_str()))
            .expression_attribute_values(":retrying", s(Status::Retrying.as_str()))
            .expression_attribute_values(":token", s(&token.0))
            .expression_attribute_values(":until", n(now + lease.as_millis() as i64))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":now_text", s(now_rfc3339()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| StoreError::Corrupt("claim returned no attributes".into()))?;
                Ok(Claim::Granted {
                    tx: from_item(&item)?,
                    token,
                })
            }
            Err(e) if is_conditional_failure(&e) => Ok(match self.get_tx(id).await? {
                None => Claim::Missing,
                Some(tx)
                    if tx.signed.is_some()
                        || !matches!(tx.status, Status::Received | Status::Retrying) =>
                {
                    Claim::AlreadySigned(tx)
                }
                Some(_) => Claim::Held,
            }),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn release_claim(&self, id: TxId, token: &LeaseToken) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tx_pk(id)))
            .update_expression("REMOVE lease_token, lease_until")
            .condition_expression("lease_token = :token")
            .expression_attribute_values(":token", s(&token.0))
            .send()
            .await;
        // Not applied: the lease is not ours any more, so there is nothing to release.
        applied(result).map(|_| ())
    }

    async fn record_signed(
        &self,
        id: TxId,
        token: &LeaseToken,
        signed: &SignedTx,
    ) -> Result<(), StoreError> {
        let change = signed_fields(Change::new(), signed)
            .remove("lease_token")
            .remove("lease_until")
            .remove("next_attempt_at")
            .when(
                "lease_token = :token AND nonce = :nonce AND attribute_not_exists(tx_hash)",
                [(":token", s(&token.0))],
            )
            .log(HistoryEntry::signed_as(signed));
        self.advance(id, Status::Signed, change).await
    }
}
