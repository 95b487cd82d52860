//! One contract, two stores: every case of `support/store_contract.rs` runs against DynamoDB on
//! the emulator and against the in-memory twin, so the twin's answers are DynamoDB's.

use integration_tests::TestStack;
use integration_tests::store_contract as contract;
use tx_shared::adapters::memory::MemoryStore;

macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod in_memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    contract::$case(&MemoryStore::new()).await;
                }
            )*
        }

        mod dynamodb {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let stack = TestStack::start_with(
                        concat!("contract-", stringify!($case)),
                        devstack::RunnerOptions::default(),
                        0,
                    )
                    .await;
                    let (store, _, _) = stack.adapters();
                    contract::$case(&store).await;
                    stack.stop().await;
                }
            )*
        }
    };
}

both!(
    intake_and_idempotency,
    racing_requests_with_one_key_get_one_transaction,
    only_an_untouched_request_is_withdrawn,
    one_lease_at_a_time,
    nonces_are_taken_once_in_order,
    statuses_only_move_forward,
    waits_note_their_reason_once_and_yield_to_an_operator,
    a_dead_letter_counts_once_and_not_against_a_newer_generation,
    an_operators_retry_is_guarded_by_what_was_seen,
    a_lost_nonce_goes_back_to_signing_once,
    the_watchdog_sees_held_nonces_and_repairs_the_counter,
    a_review_decided_in_an_older_generation_is_refused,
    listings_are_scoped_and_paged,
    a_lane_report_is_kept_beside_its_counter_and_creates_none,
    the_nodes_last_probed_are_kept_per_chain,
    progress_adds_up_per_chain_and_minute,
    webhook_endpoints_change_only_from_the_version_read,
    a_delivery_log_keeps_events_once_and_counts_beyond_its_limits,
);
