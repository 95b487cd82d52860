//! What a change of a transaction tells its client.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::domain::{Event as Step, Status, Transaction};
use crate::metrics::Change;
use crate::view::TransactionView;

/// An event a client may subscribe an endpoint to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Left `received` (signed, or waiting for funds or fees): what the `200` of
    /// `POST /transaction/broadcast` promised, under way. (Not at the insert itself: a request
    /// whose publication fails is withdrawn, its client told so with a 503, and it is never
    /// accepted.)
    Accepted,
    /// Sent to the chain; again with each replacement (a new hash) or after a reorg.
    Broadcast,
    /// Included, with its confirmations, and succeeded.
    Confirmed,
    /// Included and reverted, or reverts when estimated and was never sent.
    Reverted,
    /// Waits for an operator.
    NeedsReview,
    /// An operator sent it again.
    Retried,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Accepted,
        EventKind::Broadcast,
        EventKind::Confirmed,
        EventKind::Reverted,
        EventKind::NeedsReview,
        EventKind::Retried,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Accepted => "accepted",
            EventKind::Broadcast => "broadcast",
            EventKind::Confirmed => "confirmed",
            EventKind::Reverted => "reverted",
            EventKind::NeedsReview => "needs_review",
            EventKind::Retried => "retried",
        }
    }
}

/// The events one stream record shows: `accepted` when a new request leaves `received` (the
/// signer has it; the insert alone may yet be withdrawn, if its publication fails),
/// each status the transaction entered, `broadcast` again for a new hash, and `retried` when
/// an operator's retry is among the steps the change appended (a new generation alone is not
/// one: the broadcaster starts one itself when another sender took the nonce). A change whose
/// old image could not be read (a release that wrote it in another shape) is told only by a
/// final status or review: an event twice is better than none, and its id lets a receiver see
/// the repeat; `broadcast` can't be told from a receipt check's note without the old image.
pub fn events_of(change: Change, old: Option<&Transaction>, new: &Transaction) -> Vec<EventKind> {
    match change {
        Change::Insert | Change::Remove => return Vec::new(),
        Change::Modify => {}
    }
    let Some(old) = old else {
        return match new.status {
            Status::Confirmed => vec![EventKind::Confirmed],
            Status::Reverted => vec![EventKind::Reverted],
            Status::NeedsReview => vec![EventKind::NeedsReview],
            _ => Vec::new(),
        };
    };
    let mut events = Vec::new();
    // A new request leaving `received` (signed, or waiting): once the signer has it, it can't be
    // withdrawn.
    if old.status == Status::Received
        && new.status != Status::Received
        && old.generation == 0
        && new.generation == 0
    {
        events.push(EventKind::Accepted);
    }
    let appended = new.history.get(old.history.len()..).unwrap_or_default();
    if appended
        .iter()
        .any(|step| step.event == Step::RetryRequested)
    {
        events.push(EventKind::Retried);
    }
    let hash = |tx: &Transaction| tx.signed.as_ref().map(|s| s.hash);
    let entered = |status: Status| old.status != status;
    let kind = match new.status {
        Status::Broadcast if entered(Status::Broadcast) || hash(old) != hash(new) => {
            Some(EventKind::Broadcast)
        }
        Status::Confirmed if entered(Status::Confirmed) => Some(EventKind::Confirmed),
        Status::Reverted if entered(Status::Reverted) => Some(EventKind::Reverted),
        Status::NeedsReview if entered(Status::NeedsReview) => Some(EventKind::NeedsReview),
        _ => None,
    };
    events.extend(kind);
    events
}

/// The largest body an event carries whole: its queue message (the body again, JSON-escaped,
/// so at most about twice as long) must fit SQS's 256 KB.
pub const MAX_EVENT_BODY: usize = 100_000;

/// One event of one transaction, with the exact body every delivery of it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `evt_` and 32 hex digits, the same for every stream record of the same change, so a
    /// receiver can drop a repeat.
    pub id: String,
    pub kind: EventKind,
    /// The JSON body: `{"id", "type", "created_at", "transaction"}`.
    pub body: String,
}

impl Event {
    /// `kind` of `tx` as the change left it. The id is derived from the transaction, the kind
    /// and how many steps its history had then: the same change read twice is the same event.
    pub fn of(tx: &Transaction, kind: EventKind) -> Event {
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        digest.update(tx.id.to_string().as_bytes());
        digest.update(kind.as_str().as_bytes());
        digest.update(&(tx.history.len() as u64).to_be_bytes());
        let id = format!(
            "evt_{}",
            digest.finish().as_ref()[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let mut body = serde_json::json!({
            "id": id,
            "type": kind,
            "created_at": tx.updated_at.format(&Rfc3339).unwrap_or_default(),
            "transaction": TransactionView::from(tx),
        });
        let mut text = body.to_string();
        // A history of thousands of steps (an operator retrying again and again), then calldata
        // of a hundred kilobytes, would not fit a queue message: the event then says what it
        // leaves out (`GET /transactions/{id}` has it) and carries the rest.
        for (field, omitted) in [("history", "history_omitted"), ("data", "data_omitted")] {
            if text.len() <= MAX_EVENT_BODY {
                break;
            }
            if let Some(view) = body.get_mut("transaction").and_then(|v| v.as_object_mut()) {
                view.remove(field);
                view.insert(omitted.into(), serde_json::Value::Bool(true));
            }
            text = body.to_string();
        }
        Event {
            id,
            kind,
            body: text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{HistoryEntry, NewTransaction, SignedTx, TxId};
    use alloy::primitives::{Address, B256, Bytes};

    fn tx(status: Status) -> Transaction {
        let mut tx = Transaction::received(&NewTransaction {
            id: TxId::generate(),
            message_type: "f()".into(),
            function_signature: "f()".into(),
            data: Bytes::from(vec![0x26, 0x12, 0x1f, 0xf0]),
            chain_id: 31337,
            client: "alice".parse().unwrap_or_else(|e| panic!("{e}")),
            idempotency: None,
            created_at: time::OffsetDateTime::now_utc(),
        });
        tx.status = status;
        tx
    }

    fn signed(byte: u8) -> SignedTx {
        SignedTx {
            nonce: 0,
            from: Address::repeat_byte(1),
            to: Address::repeat_byte(2),
            gas_limit: 21_000,
            max_fee_per_gas: 1,
            max_priority_fee_per_gas: 1,
            hash: B256::repeat_byte(byte),
            raw: Bytes::new(),
        }
    }

    fn moved(old: &Transaction, status: Status) -> Transaction {
        let mut new = old.clone();
        new.status = status;
        new.history.push(HistoryEntry::now(Step::Signed));
        new
    }

    #[test]
    fn a_change_tells_the_status_it_entered() {
        let received = tx(Status::Received);
        // The insert may yet be withdrawn, and the signer's claim (a change that leaves it
        // `received`) says nothing; leaving `received` is the acceptance, told once.
        assert!(events_of(Change::Insert, None, &received).is_empty());
        let mut claimed = received.clone();
        claimed.updated_at += time::Duration::seconds(1);
        assert!(events_of(Change::Modify, Some(&received), &claimed).is_empty());
        let signed = moved(&claimed, Status::Signed);
        assert_eq!(
            events_of(Change::Modify, Some(&claimed), &signed),
            [EventKind::Accepted]
        );
        let waiting = moved(&claimed, Status::Retrying);
        assert_eq!(
            events_of(Change::Modify, Some(&claimed), &waiting),
            [EventKind::Accepted]
        );
        let signed_again = moved(&signed, Status::Signed);
        assert!(events_of(Change::Modify, Some(&signed), &signed_again).is_empty());
        for (status, kind) in [
            (Status::Broadcast, EventKind::Broadcast),
            (Status::Confirmed, EventKind::Confirmed),
            (Status::Reverted, EventKind::Reverted),
            (Status::NeedsReview, EventKind::NeedsReview),
        ] {
            let new = moved(&signed, status);
            assert_eq!(events_of(Change::Modify, Some(&signed), &new), [kind]);
            // A change that leaves the status as it was (a receipt check's note) tells nothing.
            let noted = moved(&new, status);
            assert!(
                events_of(Change::Modify, Some(&new), &noted).is_empty(),
                "{status:?}"
            );
        }
        assert!(events_of(Change::Remove, Some(&received), &received).is_empty());
    }

    #[test]
    fn a_replacement_is_broadcast_again_and_an_operators_retry_is_retried() {
        let mut broadcast = tx(Status::Broadcast);
        broadcast.signed = Some(signed(1));
        let mut replaced = moved(&broadcast, Status::Broadcast);
        replaced.signed = Some(signed(2));
        assert_eq!(
            events_of(Change::Modify, Some(&broadcast), &replaced),
            [EventKind::Broadcast]
        );
        let review = moved(&replaced, Status::NeedsReview);
        let mut retried = review.clone();
        retried.status = Status::Received;
        retried.generation += 1;
        retried
            .history
            .push(HistoryEntry::now(Step::RetryRequested));
        assert_eq!(
            events_of(Change::Modify, Some(&review), &retried),
            [EventKind::Retried]
        );
        // The broadcaster's own new generation (another sender took the nonce) is no retry.
        let mut lost = moved(&replaced, Status::Retrying);
        lost.generation += 1;
        lost.history.push(HistoryEntry::now(Step::NonceLost));
        assert!(events_of(Change::Modify, Some(&replaced), &lost).is_empty());
    }

    #[test]
    fn an_unreadable_old_image_is_told_by_a_final_status_only() {
        let confirmed = tx(Status::Confirmed);
        assert_eq!(
            events_of(Change::Modify, None, &confirmed),
            [EventKind::Confirmed]
        );
        assert!(events_of(Change::Modify, None, &tx(Status::Signed)).is_empty());
        // Every receipt check's note would otherwise be another `broadcast`.
        assert!(events_of(Change::Modify, None, &tx(Status::Broadcast)).is_empty());
    }

    #[test]
    fn an_event_too_large_for_a_queue_message_leaves_out_history_then_data() {
        let mut big = tx(Status::Confirmed);
        big.data = Bytes::from(vec![0xab; 120_000]);
        for _ in 0..2_000 {
            big.history.push(HistoryEntry::now(Step::Signed));
        }
        let event = Event::of(&big, EventKind::Confirmed);
        assert!(event.body.len() <= MAX_EVENT_BODY, "{}", event.body.len());
        let body: serde_json::Value =
            serde_json::from_str(&event.body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["transaction"]["history_omitted"], true);
        assert_eq!(body["transaction"]["data_omitted"], true);
        assert_eq!(body["transaction"]["status"], "confirmed");
        // Only what must go: a long history alone leaves the calldata in.
        let mut long = tx(Status::Confirmed);
        for _ in 0..2_000 {
            long.history.push(HistoryEntry::now(Step::Signed));
        }
        let body: serde_json::Value =
            serde_json::from_str(&Event::of(&long, EventKind::Confirmed).body)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["transaction"]["history_omitted"], true);
        assert!(body["transaction"]["data"].is_string());
        // And the message carrying it fits SQS, however its text escapes.
        let message = crate::webhooks::DeliveryMessage {
            event_id: event.id.clone(),
            kind: event.kind,
            transaction_id: big.id,
            client: "alice".into(),
            endpoint_id: crate::webhooks::EndpointId::generate(),
            body: event.body.clone(),
            redelivery: false,
        };
        let bytes = serde_json::to_string(&message)
            .map(|m| m.len())
            .unwrap_or(usize::MAX);
        assert!(bytes < 256 * 1024, "{bytes}");
    }

    #[test]
    fn the_same_change_is_the_same_event_and_another_is_another() {
        let received = tx(Status::Received);
        let confirmed = moved(&received, Status::Confirmed);
        let event = Event::of(&confirmed, EventKind::Confirmed);
        assert_eq!(event, Event::of(&confirmed, EventKind::Confirmed));
        assert!(event.id.starts_with("evt_") && event.id.len() == 36);
        let again = moved(&confirmed, Status::Confirmed);
        assert_ne!(event.id, Event::of(&again, EventKind::Confirmed).id);
        assert_ne!(event.id, Event::of(&confirmed, EventKind::Broadcast).id);
        let body: serde_json::Value =
            serde_json::from_str(&event.body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["id"], event.id.as_str());
        assert_eq!(body["type"], "confirmed");
        assert_eq!(body["transaction"]["status"], "confirmed");
        assert_eq!(
            body["transaction"]["transaction_id"],
            confirmed.id.to_string().as_str()
        );
    }
}
