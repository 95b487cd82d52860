//! The pool's decisions over nodes whose behaviour is set per test: down, hanging, on another
//! chain, or refusing. Time is paused, so waits are exact and cost nothing.

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
    /// Answers, after this long.
    Slow(Duration),
    /// Fails, after this long.
    SlowlyDown(Duration),
    /// Answers, but names another hash for the bytes it is sent.
    NamesAnotherHash,
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
            Acts::Answers | Acts::NamesAnotherHash => Ok(answer),
            Acts::Down => Err(NodeError::Unavailable("connection refused".into())),
            Acts::Hangs => std::future::pending().await,
            Acts::Refuses(e) => Err(e),
            Acts::Slow(wait) => {
                tokio::time::sleep(wait).await;
                Ok(answer)
            }
            Acts::SlowlyDown(wait) => {
                tokio::time::sleep(wait).await;
                Err(NodeError::Unavailable("502".into()))
            }
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
        let lies = matches!(
            *self
                .acts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            Acts::NamesAnotherHash
        );
        let hash = if lies {
            B256::repeat_byte(0xee)
        } else {
            keccak256(raw)
        };
        self.act(hash).await
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
async fn a_hanging_node_costs_at_most_one_call_and_no_call_outlasts_its_time() {
    let pool = pool(
        vec![
            (1000, Node::new(CHAIN, Acts::Hangs)),
            (1, Node::new(CHAIN, Acts::Answers)),
        ],
        1,
    );
    let mut failed = 0;
    for _ in 0..21 {
        let started = Instant::now();
        match pool.mined_nonce(Address::ZERO).await {
            Ok(7) => {}
            Err(NodeError::Timeout(_)) => failed += 1,
            other => panic!("{other:?}"),
        }
        // A node's first use checks its chain, within a timeout of its own.
        assert!(started.elapsed() <= BUDGET * 2, "{:?}", started.elapsed());
    }
    assert!(failed <= 1, "{failed} calls failed");
    assert!(node(&pool, 0).asked.load(Ordering::Relaxed) <= 1);
    assert_eq!(healthy(&pool), vec![false, true]);
}

#[tokio::test(start_paused = true)]
async fn a_node_left_too_little_time_is_not_blamed_for_running_out() {
    // The first node fails after 40 s of the 45: the second gets 5 s, too few for its 10.
    let pool = pool(
        vec![
            (1000, Node::new(CHAIN, Acts::Answers)),
            (1, Node::new(CHAIN, Acts::Answers)),
        ],
        1,
    );
    // Both serve the chain (checked), then the first turns slow to fail, the second slow.
    assert_eq!(pool.chain_id().await, Ok(CHAIN));
    assert_eq!(pool.chain_id().await, Ok(CHAIN));
    for i in 0..2 {
        pool.members[i].verified.store(true, Ordering::Relaxed);
    }
    node(&pool, 0).now_acts(Acts::SlowlyDown(Duration::from_secs(40)));
    node(&pool, 1).now_acts(Acts::Slow(Duration::from_secs(10)));
    let mut answered = 0;
    for _ in 0..4 {
        if pool.block_number().await.is_ok() {
            answered += 1;
        }
    }
    assert!(answered >= 1, "the slow but working node answered");
    assert!(healthy(&pool)[1], "never blamed for time it was not given");
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
async fn signed_bytes_go_to_several_nodes_at_once_and_one_acceptance_is_enough() {
    let raw = Bytes::from_static(b"tx");
    let sent = |pool: &NodePool<Node>| -> usize {
        (0..3)
            .map(|i| node(pool, i).sent.load(Ordering::Relaxed))
            .sum()
    };
    let healthy_three = pool(
        (0..3)
            .map(|_| (1, Node::new(CHAIN, Acts::Answers)))
            .collect(),
        2,
    );
    for _ in 0..5 {
        assert_eq!(healthy_three.send_raw(&raw).await, Ok(keccak256(&raw)));
    }
    assert_eq!(sent(&healthy_three), 10, "each send reached two nodes");
    let one_down = pool(
        vec![
            (1, Node::new(CHAIN, Acts::Down)),
            (1, Node::new(CHAIN, Acts::Answers)),
            (1, Node::new(CHAIN, Acts::Answers)),
        ],
        2,
    );
    for _ in 0..5 {
        assert_eq!(one_down.send_raw(&raw).await, Ok(keccak256(&raw)));
    }
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

/// What a decision of several reads concludes of nonce 7: asked of `node`, as the broadcaster
/// asks it (the depth, then our hash).
async fn stranger_took_it(node: &impl ChainNode) -> Result<bool, NodeError> {
    if !crate::chain::used_deeply(node, Address::ZERO, 7, 3).await? {
        return Ok(false);
    }
    Ok(node.lookup(B256::repeat_byte(7)).await? == Lookup::Unknown)
}

#[tokio::test(start_paused = true)]
async fn a_decision_asked_of_one_node_never_mixes_two_nodes_answers() {
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
    for _ in 0..64 {
        assert_eq!(stranger_took_it(&pool.one()).await, Ok(false));
    }
    // Asked of the pool read by read, it does mix them, sooner or later.
    let mut mixed = false;
    for _ in 0..256 {
        mixed |= stranger_took_it(&pool).await == Ok(true);
    }
    assert!(mixed, "the pool spreads reads over both nodes");
}

#[tokio::test(start_paused = true)]
async fn a_node_refusing_in_its_own_way_is_failed_over() {
    let raw = Bytes::from_static(b"tx");
    let rate_limited = NodeError::Unrecognized("request limit reached".into());
    let own_cap = NodeError::Rejected {
        code: -32000,
        message: "tx fee exceeds the configured cap".into(),
    };
    for refusal in [rate_limited, own_cap] {
        let pool = pool(
            vec![
                (1000, Node::new(CHAIN, Acts::Answers)),
                (1, Node::new(CHAIN, Acts::Answers)),
            ],
            1,
        );
        assert_eq!(pool.chain_id().await, Ok(CHAIN));
        pool.members[1].verified.store(true, Ordering::Relaxed);
        node(&pool, 0).now_acts(Acts::Refuses(refusal.clone()));
        assert_eq!(pool.block_number().await, Ok(1), "{refusal}");
        assert_eq!(pool.send_raw(&raw).await, Ok(keccak256(&raw)), "{refusal}");
    }
}

#[tokio::test(start_paused = true)]
async fn every_node_refusing_the_same_gives_that_refusal() {
    let refusal = NodeError::Rejected {
        code: -32000,
        message: "invalid sender".into(),
    };
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
}

#[tokio::test(start_paused = true)]
async fn a_node_that_names_another_hash_for_our_bytes_is_not_believed() {
    let raw = Bytes::from_static(b"tx");
    let pool = pool(
        vec![
            (1000, Node::new(CHAIN, Acts::NamesAnotherHash)),
            (1, Node::new(CHAIN, Acts::Answers)),
        ],
        1,
    );
    for _ in 0..3 {
        assert_eq!(pool.send_raw(&raw).await, Ok(keccak256(&raw)));
    }
    assert_eq!(healthy(&pool), vec![false, true]);
}

#[tokio::test(start_paused = true)]
async fn no_chain_mismatch_is_told_while_a_node_could_not_say() {
    let pool = pool(
        vec![
            (1, Node::new(5, Acts::Answers)),
            (1, Node::new(CHAIN, Acts::Down)),
        ],
        1,
    );
    assert!(matches!(
        pool.chain_id().await,
        Err(NodeError::Unavailable(_))
    ));
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
    // A node's full pool yields to what the chain says through another.
    let full = || Err(NodeError::PoolFull("txpool is full".into()));
    assert_eq!(decide(vec![full(), low()]), low());
    assert_eq!(decide(vec![down(), full()]), full());
}
