//! The domain: what a transaction is and how it may change. No AWS types in here.

pub mod chains;
pub mod fees;
mod history;
mod status;
mod transaction;

pub use history::{Event, HistoryEntry};
pub use status::{Status, UnknownStatus};
pub use transaction::{
    Idempotency, Inclusion, InvalidTxId, NewTransaction, PendingSince, SignedTx, Transaction, TxId,
    TxMessage,
};
