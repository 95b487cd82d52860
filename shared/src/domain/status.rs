//! The life of a transaction as a small state machine.
//!
//! Every status change in the store is a conditional write from one status to the next, so a
//! stale or duplicated message can never move a transaction backwards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a transaction is in its life. Serialized lowercase, in JSON and in DynamoDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Stored and published; waiting for the signer.
    Received,
    /// Signed through KMS with an allocated nonce; waiting for the broadcaster.
    Signed,
    /// Accepted by the node; waiting for inclusion.
    Broadcast,
    /// Included with the configured number of confirmations and a successful receipt.
    Confirmed,
    /// Included, but the receipt says the call reverted.
    Reverted,
}

impl Status {
    /// Every status, in life order.
    pub const ALL: [Status; 5] = [
        Status::Received,
        Status::Signed,
        Status::Broadcast,
        Status::Confirmed,
        Status::Reverted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Signed => "signed",
            Status::Broadcast => "broadcast",
            Status::Confirmed => "confirmed",
            Status::Reverted => "reverted",
        }
    }

    /// A final status never changes again.
    pub const fn is_final(self) -> bool {
        matches!(self, Status::Confirmed | Status::Reverted)
    }

    /// Whether the machine allows moving from `self` to `next`.
    pub const fn can_advance_to(self, next: Status) -> bool {
        matches!(
            (self, next),
            (Status::Received, Status::Signed)
                | (Status::Signed, Status::Broadcast)
                | (Status::Broadcast, Status::Confirmed)
                | (Status::Broadcast, Status::Reverted)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown status `{0}` (expected one of: received, signed, broadcast, confirmed, reverted)")]
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
    fn the_happy_path_is_the_only_way_forward() {
        use Status::*;
        let allowed = [
            (Received, Signed),
            (Signed, Broadcast),
            (Broadcast, Confirmed),
            (Broadcast, Reverted),
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
    }

    #[test]
    fn nothing_moves_backwards_or_out_of_a_final_status() {
        for from in Status::ALL {
            assert!(!from.can_advance_to(from), "{from} -> {from}");
            if from.is_final() {
                assert!(Status::ALL.iter().all(|to| !from.can_advance_to(*to)));
            }
        }
        assert!(!Status::Signed.can_advance_to(Status::Received));
        assert!(!Status::Confirmed.can_advance_to(Status::Broadcast));
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
