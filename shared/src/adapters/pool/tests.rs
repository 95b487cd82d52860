//! The pool's decisions over nodes whose behaviour is set per test: down, hanging, on another
//! chain, or refusing. Time is paused, so waits are exact and cost nothing.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicUsize;

use alloy::primitives::keccak256;

use super::*;

const CHAIN: u64 = 1;
const BUDGET: Duration = Duration::from_secs(45);

#[derive(Debug, Clone)]
enum Acts {
    Answers,
    Down,
    Hangs,
    /// Answers every call about a transaction with this refusal.
    Refuses(NodeError),
}

/// A node that acts as told, and counts what it is asked.
#[derive(Debug)]
struct Node {
    serves: u64,
    /// What `mined_nonce_at` answers (the nonce used below any block).
    nonce_at: u64,
    /// What `lookup` answers for any hash.
    finds: Lookup,
    acts: Mutex<Acts>,
    asked: AtomicUsize,
    sent: AtomicUsize,
}

impl Node {
    fn new(serves: u64, acts: Acts) -> Self {
        Node {
            serves,
            nonce_at: 7,
            finds: Lookup::Pending,
            acts: Mutex::new(acts),
            asked: AtomicUsize::new(0),
            sent: AtomicUsize::new(0),
        }
    }

    fn now_acts(&self, acts: Acts) {
        *self
            .acts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = acts;
    }

    async fn act<T>(&self, answer: T) -> Result<T, NodeError> {
        self.asked.fetch_add(1, Ordering::Relaxed);
        let acts = self
            .acts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match acts {
            Acts::Answers => Ok(answer),
            Acts::Down => Err(NodeError::Unavailable("connection refused".into())),
            Acts::Hangs => std::future::pending().await,
            Acts::Refuses(e) => Err(e),
        }
    }
}

impl ChainNode for Node {
    async fn pending_nonce(&self, _: Address) -> Result<u64, NodeError> {
        self.act(7).await
    }
    async fn mined_nonce(&self, _: Address) -> Result<u64, NodeError> {
        self.act(7).await
    }
    async fn mined_nonce_at(&self, _: Address, _: u64) -> Result<u64, NodeError> {
        self.act(self.nonce_at).await
    }
    async fn lookup(&self, _: B256) -> Result<Lookup, NodeError> {
        self.act(self.finds).await
    }
    async fn head(&self) -> Result<Head, NodeError> {
        self.act(Head {
            number: 1,
            base_fee: 1,
        })
        .await
    }
    async fn plan_gas(&self, _: Address, _: Address, _: &Bytes) -> Result<GasPlan, NodeError> {
        self.act(GasPlan {
            gas_limit: 21_000,
            max_fee_per_gas: 2,
            max_priority_fee_per_gas: 1,
        })
        .await
    }
    async fn send_raw(&self, raw: &Bytes) -> Result<B256, NodeError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.act(keccak256(raw)).await
    }
    async fn inclusion(&self, _: B256) -> Result<Option<Inclusion>, NodeError> {
        self.act(None).await
    }
    async fn block_number(&self) -> Result<u64, NodeError> {
        self.act(1).await
    }
    async fn on_canonical_chain(&self, _: B256) -> Result<bool, NodeError> {
        self.act(true).await
    }
    async fn suggested_tip(&self) -> Result<u128, NodeError> {
        self.act(1).await
    }
    async fn chain_id(&self) -> Result<u64, NodeError> {
        // Asked before anything else: only a node that is down or hangs fails it.
        match self.act(self.serves).await {
            Err(NodeError::Unavailable(e)) => Err(NodeError::Unavailable(e)),
            Err(other) if !matches!(other, NodeError::Timeout(_)) => Ok(self.serves),
            answer => answer,
        }
    }
    async fn balance(&self, _: Address) -> Result<u128, NodeError> {
        self.act(1).await
    }
}

fn pool(nodes: Vec<(u32, Node)>, send_to: usize) -> NodePool<Node> {
    let members = nodes
        .into_iter()
        .enumerate()
        .map(|(i, (weight, node))| Member::new(format!("node-{}", i + 1), weight, node))
        .collect();
    NodePool::new(CHAIN, members, send_to, BUDGET)
}

fn node(pool: &NodePool<Node>, i: usize) -> &Node {
    &pool.members[i].node
}

fn healthy(pool: &NodePool<Node>) -> Vec<bool> {
    pool.health().into_iter().map(|h| h.healthy).collect()
}

#[tokio::test(start_paused = true)]
async fn a_node_that_is_down_is_failed_over_and_rests_after_three_failures() {
    let pool = pool(
        vec![
            (1000, Node::new(CHAIN, Acts::Down)),
            (1, Node::new(CHAIN, Acts::Answers)),
        ],
        1,
    );
    for _ in 0..20 {
        assert_eq!(pool.mined_nonce(Address::ZERO).await, Ok(7));
    }
    // Asked three times (its chain id), then left alone while it rests.
    assert_eq!(node(&pool, 0).asked.load(Ordering::Relaxed), 3);
    assert_eq!(healthy(&pool), vec![false, true]);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_node_costs_at_most_one_call_and_no_call_outlasts_the_budget() {
    let pool = pool(
        vec![
            (1000, Node::new(CHAIN, Acts::Hangs)),
            (1, Node::new(CHAIN, Acts::Answers)),
        ],
        1,
    );
    let started = Instant::now();
    let first = pool.mined_nonce(Address::ZERO).await;
    assert_eq!(first, Err(NodeError::Timeout(BUDGET)));
    assert_eq!(
        started.elapsed(),
        BUDGET,
        "one budget in all, not one per node"
    );
    for _ in 0..20 {
        assert_eq!(pool.mined_nonce(Address::ZERO).await, Ok(7));
    }
    assert_eq!(node(&pool, 0).asked.load(Ordering::Relaxed), 1);
    assert_eq!(healthy(&pool), vec![false, true]);
}

#[tokio::test(start_paused = true)]
async fn a_rested_node_is_probed_again_and_back_in_use_when_it_answers() {
    let pool = pool(
        vec![
            (1000, Node::new(CHAIN, Acts::Down)),
            (1, Node::new(CHAIN, Acts::Answers)),
        ],
        1,
    );
    for _ in 0..3 {
        assert_eq!(pool.block_number().await, Ok(1));
    }
    assert_eq!(healthy(&pool), vec![false, true]);
    node(&pool, 0).now_acts(Acts::Answers);
    tokio::time::advance(REST).await;
    for _ in 0..10 {
        assert_eq!(pool.block_number().await, Ok(1));
    }
    assert_eq!(healthy(&pool), vec![true, true]);
    assert!(node(&pool, 0).asked.load(Ordering::Relaxed) > 3);
}

#[tokio::test(start_paused = true)]
async fn a_node_serving_another_chain_is_never_asked_anything_else() {
    let pool = pool(
        vec![
            (1000, Node::new(5, Acts::Answers)),
            (1, Node::new(CHAIN, Acts::Answers)),
        ],
        2,
    );
    assert_eq!(pool.chain_id().await, Ok(CHAIN));
    for _ in 0..10 {
        assert_eq!(pool.mined_nonce(Address::ZERO).await, Ok(7));
        assert!(pool.send_raw(&Bytes::from_static(b"tx")).await.is_ok());
    }
    // Asked only its chain (once per rest), never a nonce nor to send.
    assert_eq!(node(&pool, 0).asked.load(Ordering::Relaxed), 1);
    assert_eq!(node(&pool, 0).sent.load(Ordering::Relaxed), 0);
    assert_eq!(healthy(&pool), vec![false, true]);
}

#[tokio::test(start_paused = true)]
async fn when_no_node_serves_the_chain_the_pool_says_which_one_they_serve() {
    let pool = pool(vec![(1, Node::new(5, Acts::Answers))], 1);
    assert_eq!(pool.chain_id().await, Ok(5));
    assert!(matches!(
        pool.mined_nonce(Address::ZERO).await,
        Err(NodeError::Unavailable(e)) if e.contains("serves chain 5, not 1")
    ));
}

#[tokio::test(start_paused = true)]
async fn an_answer_about_the_transaction_is_not_failed_over() {
    let refusal = NodeError::NonceTooLow("nonce too low".into());
    let pool = pool(
        vec![
            (1, Node::new(CHAIN, Acts::Refuses(refusal.clone()))),
            (1, Node::new(CHAIN, Acts::Refuses(refusal.clone()))),
        ],
        1,
    );
    assert_eq!(
        pool.send_raw(&Bytes::from_static(b"tx")).await,
        Err(refusal)
    );
    let sends =
        node(&pool, 0).sent.load(Ordering::Relaxed) + node(&pool, 1).sent.load(Ordering::Relaxed);
    assert_eq!(sends, 1);
    assert_eq!(healthy(&pool), vec![true, true]);
}

#[tokio::test(start_paused = true)]
async fn signed_bytes_go_to_several_nodes_and_one_acceptance_is_enough() {
    let raw = Bytes::from_static(b"tx");
    let pool = pool(
        vec![
            (1, Node::new(CHAIN, Acts::Down)),
            (1, Node::new(CHAIN, Acts::Answers)),
            (1, Node::new(CHAIN, Acts::Answers)),
        ],
        2,
    );
    for _ in 0..5 {
        assert_eq!(pool.send_raw(&raw).await, Ok(keccak256(&raw)));
    }
    let answered =
        node(&pool, 1).sent.load(Ordering::Relaxed) + node(&pool, 2).sent.load(Ordering::Relaxed);
    assert!(
        answered >= 5,
        "each send reached a node that answers: {answered}"
    );
}

#[tokio::test(start_paused = true)]
async fn when_the_chosen_nodes_are_down_the_bytes_go_to_the_others() {
    let raw = Bytes::from_static(b"tx");
    let pool = pool(
        vec![
            (1000, Node::new(CHAIN, Acts::Down)),
            (1000, Node::new(CHAIN, Acts::Down)),
            (1, Node::new(CHAIN, Acts::Answers)),
        ],
        2,
    );
    assert_eq!(pool.send_raw(&raw).await, Ok(keccak256(&raw)));
    assert_eq!(node(&pool, 2).sent.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stranger_is_judged_on_one_nodes_answers_never_on_two() {
    // Ahead: our nonce 7 is used deep, by ours. Lagging: not used yet, ours unknown. Mixing
    // the two ("used deep" from one, "not ours" from the other) would sign the call again.
    let ahead = Node {
        nonce_at: 8,
        finds: Lookup::Included(Inclusion {
            block_number: 3,
            succeeded: true,
        }),
        ..Node::new(CHAIN, Acts::Answers)
    };
    let lagging = Node {
        finds: Lookup::Unknown,
        ..Node::new(CHAIN, Acts::Answers)
    };
    let pool = pool(vec![(1, ahead), (1, lagging)], 1);
    let ours = [B256::repeat_byte(7)];
    let mut seen = BTreeSet::new();
    for _ in 0..64 {
        let verdict = pool
            .nonce_use(Address::ZERO, 7, 3, &ours)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(verdict, NonceUse::Stranger);
        seen.insert(format!("{verdict:?}"));
    }
    assert_eq!(seen.len(), 2, "both nodes were asked: {seen:?}");
}

#[test]
fn of_several_answers_an_acceptance_then_already_known_then_a_refusal_decides() {
    let hash = B256::repeat_byte(1);
    let down = || Err(NodeError::Unavailable("down".into()));
    let low = || Err(NodeError::NonceTooLow("nonce too low".into()));
    assert_eq!(decide(vec![down(), low(), Ok(hash)]), Ok(hash));
    assert_eq!(
        decide(vec![low(), Err(NodeError::AlreadyKnown), down()]),
        Err(NodeError::AlreadyKnown)
    );
    assert_eq!(decide(vec![down(), low()]), low());
    assert_eq!(decide(vec![down()]), down());
}
