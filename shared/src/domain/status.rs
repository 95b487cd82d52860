//! The life of a transaction as a small state machine.
//!
//! Every status change in the store is a conditional write from one status to the next, so a
//! stale or duplicated message can never move a transaction backwards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a transaction is in its life. Serialized lowercase, in JSON and in DynamoDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Stored and published; waiting for the signer.
    Received,
    /// A signing or sending attempt failed for a reason that may pass; the next attempt is
    /// scheduled (`next_attempt_at`).
    Retrying,
    /// Signed through KMS with an allocated nonce; waiting for the broadcaster.
    Signed,
    /// Accepted by the node; waiting for inclusion.
    Broadcast,
    /// Included with the configured number of confirmations and a successful receipt.
    Confirmed,
    /// Included, but the receipt says the call reverted; or the call reverts already when
    /// estimated, and was never sent.
    Reverted,
    /// Every attempt failed, or the failure can't pass by itself: an operator must look.
    NeedsReview,
}

impl Status {
    /// Every status, in life order.
    pub const ALL: [Status; 7] = [
        Status::Received,
        Status::Retrying,
        Status::Signed,
        Status::Broadcast,
        Status::Confirmed,
        Status::Reverted,
        Status::NeedsReview,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Retrying => "retrying",
            Status::Signed => "signed",
            Status::Broadcast => "broadcast",
            Status::Confirmed => "confirmed",
            Status::Reverted => "reverted",
            Status::NeedsReview => "needs_review",
        }
    }

    /// The pipeline is done with a final status: only an operator's retry moves a `reverted`
    /// transaction again, and nothing moves a `confirmed` one.
    pub const fn is_final(self) -> bool {
        matches!(self, Status::Confirmed | Status::Reverted)
    }

    /// Whether the machine allows moving from `self` to `next`. `retrying → retrying` is the
    /// one self-transition: another failed attempt.
    pub const fn can_advance_to(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Received, Signed | Retrying | Reverted | NeedsReview)
                | (
                    Retrying,
                    Signed | Broadcast | Retrying | Reverted | NeedsReview
                )
                | (Signed, Broadcast | Retrying | NeedsReview)
                // Back to signing: another sender's transaction took its nonce.
                | (Broadcast, Confirmed | Reverted | NeedsReview | Retrying)
                // An operator's retry.
                | (NeedsReview | Reverted, Retrying)
                // A reorganisation took its block away: followed again.
                | (Confirmed | Reverted, Broadcast)
        )
    }

    /// Statuses a transaction may be in when moving to `next`: the conditional write's guard.
    pub fn sources_of(next: Status) -> Vec<Status> {
        Status::ALL
            .into_iter()
            .filter(|from| from.can_advance_to(next))
            .collect()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown status `{0}` (expected one of: received, retrying, signed, broadcast, confirmed, reverted, needs_review)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_these_transitions_exist() {
        use Status::*;
        let allowed = [
            (Received, Signed),
            (Received, Retrying),
            (Received, Reverted),
            (Received, NeedsReview),
            (Retrying, Signed),
            (Retrying, Broadcast),
            (Retrying, Retrying),
            (Retrying, Reverted),
            (Retrying, NeedsReview),
            (Signed, Broadcast),
            (Signed, Retrying),
            (Signed, NeedsReview),
            (Broadcast, Confirmed),
            (Broadcast, Reverted),
            (Broadcast, NeedsReview),
            (Broadcast, Retrying),
            (NeedsReview, Retrying),
            (Reverted, Retrying),
            (Confirmed, Broadcast),
            (Reverted, Broadcast),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                assert_eq!(
                    from.can_advance_to(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        assert_eq!(Status::sources_of(Confirmed), vec![Broadcast]);
        assert_eq!(Status::sources_of(Signed), vec![Received, Retrying]);
    }

    #[test]
    fn nothing_moves_backwards_or_out_of_a_final_status() {
        for from in Status::ALL {
            // Out of a final status only an operator's retry, or a reorganisation back to
            // being followed; out of `confirmed`, only the latter.
            if from.is_final() {
                assert!(Status::ALL.iter().all(|to| !from.can_advance_to(*to)
                    || matches!(to, Status::Retrying | Status::Broadcast)));
            }
            assert!(!Status::Confirmed.can_advance_to(from) || from == Status::Broadcast);
            // Nothing ever goes back to `received`, and only `retrying` repeats itself.
            assert!(!from.can_advance_to(Status::Received));
            if from != Status::Retrying {
                assert!(!from.can_advance_to(from), "{from} -> {from}");
            }
        }
        assert!(!Status::Signed.can_advance_to(Status::Received));
        assert!(!Status::Broadcast.can_advance_to(Status::Signed));
        assert!(!Status::NeedsReview.can_advance_to(Status::Confirmed));
    }

    #[test]
    fn round_trips_through_its_lowercase_name() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
            assert_eq!(
                serde_json::to_string(&status).ok(),
                Some(format!("\"{}\"", status.as_str()))
            );
        }
        assert!("Confirmed".parse::<Status>().is_err());
        assert!("".parse::<Status>().is_err());
    }
}
