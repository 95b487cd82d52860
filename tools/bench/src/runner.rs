//! The meters the benchmark attaches to `devstack`'s local runtime.
//!
//! `devstack::start_with` runs the same pollers, stream reader and sweep schedule as
//! `make dev`; through its hooks the benchmark hands every function clients that count their
//! requests, and hears of every poll (the event source mapping's own `ReceiveMessage` and
//! `DeleteMessageBatch`, counted apart from the functions' requests) and every handler call,
//! whose duration is what Lambda bills.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use devstack::{Hooks, Polled, Role};

use crate::metering::{OpCounter, counted_clients};

/// What one function's invocations and its event source mapping did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Invocations {
    pub invocations: u64,
    pub records: u64,
    pub failed_records: u64,
    /// Sum of handler call durations: billed duration.
    pub handler_time: Duration,
    /// `ReceiveMessage` calls that returned messages.
    pub receives: u64,
    pub empty_receives: u64,
    pub delete_batches: u64,
    pub deleted: u64,
}

impl Invocations {
    fn record(&mut self, polled: Polled) {
        match polled {
            Polled::Empty => self.empty_receives += 1,
            Polled::Handled {
                records,
                failed,
                took,
            } => {
                self.receives += 1;
                self.invocations += 1;
                self.records += records as u64;
                self.failed_records += failed as u64;
                self.handler_time += took;
            }
            Polled::DeleteSent { entries } => {
                self.delete_batches += 1;
                self.deleted += entries as u64;
            }
            Polled::Swept { took } => {
                self.invocations += 1;
                self.handler_time += took;
            }
        }
    }
}

/// Everything one stack's meters saw.
#[derive(Debug, Default)]
pub struct Meters {
    /// The functions' requests.
    pub functions: Arc<OpCounter>,
    /// The stream-fed notifier's reads.
    pub notifier: Arc<OpCounter>,
    by_role: Mutex<BTreeMap<Role, Invocations>>,
}

impl Meters {
    /// Invocations and the event source mappings' requests, by function.
    pub fn invocations(&self) -> BTreeMap<Role, Invocations> {
        self.by_role.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn reset(&self) {
        self.functions.reset();
        self.notifier.reset();
        if let Ok(mut map) = self.by_role.lock() {
            map.clear();
        }
    }

    /// The hooks that feed these meters.
    pub fn hooks(self: &Arc<Self>, sdk: &SdkConfig) -> Hooks {
        let functions = counted_clients(sdk, &self.functions);
        let notifier = counted_clients(sdk, &self.notifier);
        let meters = self.clone();
        Hooks {
            clients: Arc::new(move |role| match role {
                Role::Notifier => notifier.clone(),
                _ => functions.clone(),
            }),
            observe: Arc::new(move |role, polled| {
                if let Ok(mut map) = meters.by_role.lock() {
                    map.entry(role).or_default().record(polled);
                }
            }),
        }
    }
}
