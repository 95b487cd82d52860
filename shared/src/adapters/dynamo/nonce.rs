//! The signing account's nonce counter: one transactional write takes the next nonces and
//! assigns them, to every reservation of this process waiting for the lane's counter at once
//! (`nonce_groups`); a lost race is read from the cancellation reasons.

use super::nonce_groups::Pending;
use super::*;

/// The watchdog's report kept on a counter item, if it has one.
fn lane_report(counter: &Item) -> Result<Option<LaneReport>, StoreError> {
    let Some(state) = parse_opt::<String>(counter, "lane_state")? else {
        return Ok(None);
    };
    let state = LaneState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("lane_state `{state}`")))?;
    let at: String = parse_attr(counter, "lane_at")?;
    let at = OffsetDateTime::parse(&at, &Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("lane_at `{at}`: {e}")))?;
    let balance: String = parse_attr(counter, "lane_balance_wei")?;
    Ok(Some(LaneReport {
        mined: parse_attr(counter, "lane_mined")?,
        state,
        balance_wei: balance
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("lane_balance_wei `{balance}`: {e}")))?,
        at,
    }))
}

impl NonceCounter for DynamoStore {
    async fn reserve_nonce(
        &self,
        id: TxId,
        token: &LeaseToken,
        account: Account,
    ) -> Result<NonceReservation, StoreError> {
        // The budget covers the wait for this lane's writer too: a record never waits longer
        // than it in all, however slow the writes ahead of it are.
        let deadline = tokio::time::Instant::now() + NONCE_CONTENTION_BUDGET;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let pending = Pending {
            id,
            token: token.clone(),
            deadline,
            reply,
        };
        if self.nonce_groups.join(account, pending) {
            // The writer outlives a caller that gives up: a write in flight completes, and the
            // table says what it did (a nonce taken is reused by the next attempt).
            let store = self.clone();
            tokio::spawn(async move { store.write_groups(account).await });
        }
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(reserved)) => reserved,
            Ok(Err(_)) => Err(StoreError::Unavailable(format!(
                "the nonce writer of {} stopped before answering",
                account.address
            ))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "waited {NONCE_CONTENTION_BUDGET:?} for its turn at the nonce counter of {}",
                account.address
            ))),
        }
    }

    async fn seed_nonce(&self, account: Account, next: u64) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(nonce_pk(account)))
            .item("chain_id", n(account.chain_id))
            .item("signer_address", s(account.address.to_string()))
            .item("next_nonce", n(next))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        // Not applied: the counter exists already, which is all we wanted.
        applied(result).map(|_| ())
    }

    async fn resync_nonce(
        &self,
        account: Account,
        chain_next: u64,
    ) -> Result<Option<u64>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(nonce_pk(account)))
            .update_expression("SET next_nonce = :chain")
            .condition_expression("attribute_exists(pk) AND next_nonce < :chain")
            .expression_attribute_values(":chain", n(chain_next))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .attributes
                .and_then(|old| parse_opt::<u64>(&old, "next_nonce").ok().flatten())),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn nonce_counter(&self, account: Account) -> Result<Option<CounterState>, StoreError> {
        let Some(counter) = self.get_item(nonce_pk(account)).await? else {
            return Ok(None);
        };
        let reserved_at = parse_opt::<String>(&counter, "reserved_at")?
            .map(|at| {
                OffsetDateTime::parse(&at, &Rfc3339)
                    .map_err(|e| StoreError::Corrupt(format!("reserved_at `{at}`: {e}")))
            })
            .transpose()?;
        Ok(Some(CounterState {
            next: parse_attr(&counter, "next_nonce")?,
            reserved_at,
            indexed_from: parse_opt(&counter, "indexed_from")?,
            // A report this release can't read is no report: it must not stop signing.
            lane: lane_report(&counter).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "unreadable lane report on the counter; ignored");
                None
            }),
        }))
    }

    async fn report_lane(&self, account: Account, report: &LaneReport) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(nonce_pk(account)))
            .update_expression(
                "SET lane_mined = :mined, lane_state = :state, lane_balance_wei = :balance, lane_at = :at, lane_at_ms = :at_ms",
            )
            // Never creates a counter, and never puts an older view over a newer one (watches
            // can overlap).
            .condition_expression(
                "attribute_exists(next_nonce) AND (attribute_not_exists(lane_at_ms) OR lane_at_ms < :at_ms)",
            )
            .expression_attribute_values(":mined", n(report.mined))
            .expression_attribute_values(":state", s(report.state.as_str()))
            .expression_attribute_values(":balance", s(report.balance_wei.to_string()))
            .expression_attribute_values(":at", s(format_time(report.at)))
            .expression_attribute_values(
                ":at_ms",
                n(report.at.unix_timestamp_nanos() / 1_000_000),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn rewind_nonce(&self, account: Account, from: u64, to: u64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(nonce_pk(account)))
            .update_expression("SET next_nonce = :to")
            .condition_expression("next_nonce = :from")
            .expression_attribute_values(":from", n(from))
            .expression_attribute_values(":to", n(to))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn nonce_holders(
        &self,
        account: Account,
        from: u64,
        limit: u32,
    ) -> Result<Vec<Transaction>, StoreError> {
        let limit = limit.clamp(1, 1000) as usize;
        let mut holders = Vec::new();
        let mut start = None;
        // A page stops at 1 MB: read on until `limit` holders or the end.
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(INDEX_BY_NONCE)
                .key_condition_expression("nonce_account = :account AND nonce >= :from")
                .expression_attribute_values(":account", s(nonce_pk(account)))
                .expression_attribute_values(":from", n(from))
                .limit((limit - holders.len()) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                holders.push(from_item(&item)?);
            }
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(key) if holders.len() < limit => start = Some(key),
                _ => return Ok(holders),
            }
        }
    }
}

impl DynamoStore {
    /// A lane's writer: writes the groups that gather until none is left.
    async fn write_groups(self, account: Account) {
        let writing = self.nonce_groups.writing(account);
        loop {
            let group = self.nonce_groups.next_group(account);
            if group.is_empty() {
                return writing.finish();
            }
            self.write_group(account, group).await;
        }
    }

    /// One transactional write: the counter moves past the whole group (on the condition that
    /// it is where we read it), and each member is assigned its nonce (on the condition that
    /// it is still its signer's to number). A member whose condition fails is answered and left
    /// out; a counter another process moved is read from the reply; the rest is written again.
    async fn write_group(&self, account: Account, mut group: Vec<Pending>) {
        let mut attempt: u64 = 0;
        // The counter's value, when the last lost race told it (no need to read it again).
        let mut told: Option<u64> = None;
        loop {
            group.retain(Pending::wanted);
            if group.is_empty() {
                return;
            }
            attempt += 1;
            let next = match told.take() {
                Some(next) => next,
                None => match self.get_item(nonce_pk(account)).await {
                    Ok(Some(counter)) => match parse_attr::<u64>(&counter, "next_nonce") {
                        Ok(next) => next,
                        Err(e) => return answer_all(group, Err(e)),
                    },
                    Ok(None) => return answer_all(group, Ok(NonceReservation::Uninitialized)),
                    Err(e) => return answer_all(group, Err(e)),
                },
            };
            let result = match self.group_write(account, next, &group) {
                Ok(write) => write.send().await,
                Err(e) => return answer_all(group, Err(e)),
            };
            let err = match result {
                Ok(_) => {
                    for (i, pending) in group.into_iter().enumerate() {
                        pending.answer(Ok(NonceReservation::Assigned(next + i as u64)));
                    }
                    return;
                }
                Err(e) => e,
            };
            match NonceRace::of(&err) {
                NonceRace::NotCanceled => {
                    let e = unavailable(err);
                    return answer_all(group, Err(e));
                }
                NonceRace::TransactionsMoved {
                    moved,
                    counter_held,
                    counter,
                } => {
                    // Theirs to number no more: their lease ran out, or they moved on.
                    let mut kept = Vec::with_capacity(group.len());
                    for (position, pending) in group.into_iter().enumerate() {
                        if moved.contains(&position) {
                            let id = pending.id;
                            pending.answer(Err(StoreError::Conflict {
                                id,
                                to: Status::Signed,
                            }));
                        } else {
                            kept.push(pending);
                        }
                    }
                    group = kept;
                    told = if counter_held { Some(next) } else { counter };
                }
                NonceRace::CounterMoved(now) => {
                    tracing::debug!(attempt, counter = ?now, "another signer took nonce {next}");
                    told = now;
                }
                NonceRace::CounterBusy => {
                    // Another process's write of the counter was in flight: it moves the
                    // counter; read it again after a little while.
                    let jitter = rand::random_range(0..=(5 + 3 * attempt).min(50));
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
                NonceRace::Unexplained => {
                    // No reasons to go by: read each transaction (all at once) to know whether
                    // it is still ours, and back off a little.
                    let read = futures::future::join_all(
                        group.iter().map(|pending| self.get_tx(pending.id)),
                    )
                    .await;
                    let mut kept = Vec::with_capacity(group.len());
                    for (pending, read) in group.into_iter().zip(read) {
                        let still_ours = match read {
                            Ok(tx) => tx.is_some_and(|tx| {
                                matches!(tx.status, Status::Received | Status::Retrying)
                                    && tx.nonce.is_none()
                            }),
                            Err(e) => {
                                pending.answer(Err(e));
                                continue;
                            }
                        };
                        if still_ours {
                            kept.push(pending);
                        } else {
                            let id = pending.id;
                            pending.answer(Err(StoreError::Conflict {
                                id,
                                to: Status::Signed,
                            }));
                        }
                    }
                    group = kept;
                    let jitter = rand::random_range(0..=(5 + 3 * attempt).min(50));
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
            }
        }
    }

    /// The counter from `next` past the group, and each member's assignment, as one write.
    fn group_write(
        &self,
        account: Account,
        next: u64,
        group: &[Pending],
    ) -> Result<aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder, StoreError>
    {
        let bump = Update::builder()
            .table_name(&self.table)
            .key("pk", s(nonce_pk(account)))
            .update_expression(
                "SET next_nonce = :after, reserved_at = :reserved_at, indexed_from = if_not_exists(indexed_from, :current)",
            )
            .condition_expression("next_nonce = :current")
            .expression_attribute_values(":current", n(next))
            .expression_attribute_values(":after", n(next + group.len() as u64))
            .expression_attribute_values(":reserved_at", s(now_rfc3339()))
            // A lost race returns the counter as it is now.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        let mut write = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(bump).build());
        for (i, pending) in group.iter().enumerate() {
            let assign = Update::builder()
                .table_name(&self.table)
                .key("pk", s(tx_pk(pending.id)))
                // `nonce_account` puts it in the `by_nonce` index, the watchdog's view.
                .update_expression(
                    "SET nonce = :nonce, signer_address = :signer, nonce_account = :account, updated_at = :now",
                )
                .condition_expression(
                    "#status IN (:received, :retrying) AND lease_token = :token AND attribute_not_exists(nonce)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":received", s(Status::Received.as_str()))
                .expression_attribute_values(":retrying", s(Status::Retrying.as_str()))
                .expression_attribute_values(":token", s(&pending.token.0))
                .expression_attribute_values(":nonce", n(next + i as u64))
                .expression_attribute_values(":signer", s(account.address.to_string()))
                .expression_attribute_values(":account", s(nonce_pk(account)))
                .expression_attribute_values(":now", s(now_rfc3339()))
                .build()
                .map_err(build_error)?;
            write = write.transact_items(TransactWriteItem::builder().update(assign).build());
        }
        Ok(write)
    }
}

/// Every member of a group gets the same answer.
fn answer_all(group: Vec<Pending>, result: Result<NonceReservation, StoreError>) {
    for pending in group {
        pending.answer(result.clone());
    }
}

/// Why a group's reservation (counter bump, then each member's assignment, one transaction) was
/// cancelled, read from its cancellation reasons: one per item, in the order they were sent.
#[derive(Debug, PartialEq)]
pub(super) enum NonceRace {
    /// Not a cancelled transaction at all.
    NotCanceled,
    /// These members' assignments failed (lease lost, nonce already set, or status moved), by
    /// their position in the group. `counter_held`: the counter's condition passed (it is
    /// where it was read); else `counter` is its current value, if the reply told it.
    TransactionsMoved {
        moved: Vec<usize>,
        counter_held: bool,
        counter: Option<u64>,
    },
    /// Only the counter's condition failed: another signer took the nonce. Carries the
    /// counter's current value when the reply included it.
    CounterMoved(Option<u64>),
    /// Only the counter conflicted with another transaction in flight (another process's
    /// reservation): it is moving.
    CounterBusy,
    /// Cancelled for another reason, or without reasons.
    Unexplained,
}

impl NonceRace {
    pub(super) fn of<R>(err: &SdkError<TransactWriteItemsError, R>) -> Self {
        let Some(TransactWriteItemsError::TransactionCanceledException(canceled)) =
            err.as_service_error()
        else {
            return NonceRace::NotCanceled;
        };
        Self::from_reasons(canceled.cancellation_reasons())
    }

    pub(super) fn from_reasons(reasons: &[CancellationReason]) -> Self {
        let failed =
            |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
        let counter = || {
            reasons
                .first()
                .filter(|_| failed(0))
                .and_then(|r| r.item())
                .and_then(|item| parse_opt::<u64>(item, "next_nonce").ok().flatten())
        };
        let moved: Vec<usize> = (1..reasons.len())
            .filter(|i| failed(*i))
            .map(|i| i - 1)
            .collect();
        if !moved.is_empty() {
            NonceRace::TransactionsMoved {
                moved,
                counter_held: !failed(0),
                counter: counter(),
            }
        } else if failed(0) {
            NonceRace::CounterMoved(counter())
        } else if reasons.first().and_then(|r| r.code()) == Some("TransactionConflict")
            && reasons
                .iter()
                .skip(1)
                .all(|r| r.code().is_none_or(|code| code == "None"))
        {
            NonceRace::CounterBusy
        } else {
            NonceRace::Unexplained
        }
    }
}

/// The chain's nodes as last probed: one item per chain, the list as JSON (labels only).
impl crate::ports::NodesHealth for DynamoStore {
    async fn report_nodes(
        &self,
        chain_id: u64,
        nodes: &[crate::ports::NodeHealth],
    ) -> Result<(), StoreError> {
        let listed: Vec<serde_json::Value> = nodes
            .iter()
            .map(|n| serde_json::json!({ "node": n.node, "healthy": n.healthy }))
            .collect();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(nodes_pk(chain_id)))
            .item("nodes", s(serde_json::Value::Array(listed).to_string()))
            .item("at", s(now_rfc3339()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn nodes_health(
        &self,
        chain_id: u64,
    ) -> Result<Option<(Vec<crate::ports::NodeHealth>, OffsetDateTime)>, StoreError> {
        let Some(item) = self.get_item(nodes_pk(chain_id)).await? else {
            return Ok(None);
        };
        let corrupt =
            |what: String| StoreError::Corrupt(format!("nodes of chain {chain_id}: {what}"));
        let listed: String = parse_attr(&item, "nodes")?;
        let listed: Vec<serde_json::Value> =
            serde_json::from_str(&listed).map_err(|e| corrupt(e.to_string()))?;
        let nodes = listed
            .iter()
            .map(|n| match (n["node"].as_str(), n["healthy"].as_bool()) {
                (Some(node), Some(healthy)) => Ok(crate::ports::NodeHealth {
                    node: node.to_owned(),
                    healthy,
                }),
                _ => Err(corrupt(format!("entry {n}"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let at: String = parse_attr(&item, "at")?;
        let at = OffsetDateTime::parse(&at, &Rfc3339).map_err(|e| corrupt(e.to_string()))?;
        Ok(Some((nodes, at)))
    }
}

#[cfg(test)]
mod nonce_race_tests {
    use super::*;

    /// Never reaches a server: the test ends before any request would be sent.
    fn offline_store() -> DynamoStore {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        DynamoStore::new(Client::from_conf(config), "transactions")
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_for_the_turn_counts_against_the_budget() {
        let store = offline_store();
        let account = Account {
            chain_id: 1,
            address: Address::ZERO,
        };
        // The lane's writer is at work on another group and does not finish.
        store.nonce_groups.hold(account);
        let started = tokio::time::Instant::now();
        let token = LeaseToken("ours".into());
        let reserving = store.reserve_nonce(TxId::generate(), &token, account);
        let Ok(result) = tokio::time::timeout(NONCE_CONTENTION_BUDGET * 2, reserving).await else {
            panic!("still waiting for the turn after twice the budget");
        };
        assert!(
            matches!(&result, Err(StoreError::Unavailable(why)) if why.contains("turn")),
            "{result:?}"
        );
        assert_eq!(started.elapsed(), NONCE_CONTENTION_BUDGET);
    }

    fn reason(code: &str, item: Option<Item>) -> CancellationReason {
        CancellationReason::builder()
            .code(code)
            .set_item(item)
            .build()
    }

    fn counter(next: u64) -> Item {
        HashMap::from([("next_nonce".to_owned(), n(next))])
    }

    #[test]
    fn a_moved_counter_tells_its_value() {
        let reasons = [
            reason("ConditionalCheckFailed", Some(counter(42))),
            reason("None", None),
        ];
        assert_eq!(
            NonceRace::from_reasons(&reasons),
            NonceRace::CounterMoved(Some(42))
        );
    }

    #[test]
    fn a_moved_counter_without_its_item_is_read_again() {
        let reasons = [reason("ConditionalCheckFailed", None), reason("None", None)];
        assert_eq!(
            NonceRace::from_reasons(&reasons),
            NonceRace::CounterMoved(None)
        );
    }

    #[test]
    fn a_failed_assignment_means_the_transaction_is_not_ours_whatever_the_counter_did() {
        for counter_code in ["None", "ConditionalCheckFailed"] {
            let reasons = [
                reason(counter_code, Some(counter(7))),
                reason("ConditionalCheckFailed", None),
            ];
            let held = counter_code == "None";
            assert_eq!(
                NonceRace::from_reasons(&reasons),
                NonceRace::TransactionsMoved {
                    moved: vec![0],
                    counter_held: held,
                    counter: (!held).then_some(7),
                },
                "{counter_code}"
            );
        }
    }

    #[test]
    fn a_conflict_on_the_counter_alone_is_another_process_writing_it() {
        let busy = [
            reason("TransactionConflict", None),
            reason("None", None),
            reason("None", None),
        ];
        assert_eq!(NonceRace::from_reasons(&busy), NonceRace::CounterBusy);
        // A member in conflict too: each member is read.
        let member = [
            reason("TransactionConflict", None),
            reason("TransactionConflict", None),
        ];
        assert_eq!(NonceRace::from_reasons(&member), NonceRace::Unexplained);
        // No reasons at all: nothing to go by.
        assert_eq!(NonceRace::from_reasons(&[]), NonceRace::Unexplained);
    }

    #[test]
    fn a_group_names_each_member_whose_assignment_failed() {
        let reasons = [
            reason("None", None),
            reason("None", None),
            reason("ConditionalCheckFailed", None),
            reason("None", None),
            reason("ConditionalCheckFailed", None),
        ];
        assert_eq!(
            NonceRace::from_reasons(&reasons),
            NonceRace::TransactionsMoved {
                moved: vec![1, 3],
                counter_held: true,
                counter: None,
            }
        );
    }
}
