//! [`ChainNode`] over several nodes of one chain: each call goes to a healthy node, picked at
//! random by weight, and fails over to the next when a node is down or slow; a node that keeps
//! failing rests (a circuit breaker) and is tried again, as a probe, after a cool-down. Signed
//! transactions may go to several nodes at once: the same bytes, so any node's "already known"
//! is as good as an acceptance.
//!
//! Every node is asked which chain it serves before it is first used (per container): one that
//! serves another chain is never asked anything else, so its nonces and receipts can't decide
//! anything here.
//!
//! A call never takes longer than one node's timeout in all: a node that used it up leaves no
//! time for another, and rests, so the next call goes elsewhere. The functions' deadlines,
//! derived from `RPC_TIMEOUT_MS`, hold whatever the number of nodes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes};
use tokio::time::Instant;

use crate::domain::Inclusion;
use crate::ports::{ChainNode, GasPlan, Head, Lookup, NodeError, NonceUse};

/// Failures in a row after which a node rests (a timeout rests it at once: it cost a whole
/// call's time).
pub const FAILURES_BEFORE_REST: u32 = 3;

/// How long a failing node rests before a call probes it again.
pub const REST: Duration = Duration::from_secs(30);

/// One node of the pool, named by a label that never carries its URL.
#[derive(Debug)]
pub struct Member<N> {
    pub label: String,
    pub weight: u32,
    pub node: N,
    health: Mutex<Health>,
    /// Whether it was found to serve the pool's chain.
    verified: AtomicBool,
}

#[derive(Debug, Default, Clone, Copy)]
struct Health {
    failures: u32,
    resting_until: Option<Instant>,
}

impl<N> Member<N> {
    pub fn new(label: impl Into<String>, weight: u32, node: N) -> Self {
        Member {
            label: label.into(),
            weight: weight.max(1),
            node,
            health: Mutex::new(Health::default()),
            verified: AtomicBool::new(false),
        }
    }

    fn health(&self) -> Health {
        *self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, change: impl FnOnce(&mut Health)) {
        change(
            &mut self
                .health
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }

    fn answered(&self) {
        self.update(|h| *h = Health::default());
    }

    fn failed(&self, error: &NodeError) {
        let mut rests = false;
        self.update(|h| {
            h.failures = h.failures.saturating_add(1);
            // A timeout cost a whole call's time: the node rests at once.
            rests = matches!(error, NodeError::Timeout(_)) || h.failures >= FAILURES_BEFORE_REST;
            if rests {
                h.resting_until = Some(Instant::now() + REST);
            }
        });
        if rests {
            tracing::warn!(node = %self.label, %error, rest_seconds = REST.as_secs(), "node failing; it rests");
        } else {
            tracing::warn!(node = %self.label, %error, "node failed; trying another");
        }
    }

    fn rest(&self) {
        self.update(|h| h.resting_until = Some(Instant::now() + REST));
    }
}

/// Why a node was not asked.
enum Unusable {
    /// It serves this other chain.
    WrongChain(u64),
    Failed(NodeError),
}

/// What `/health` shows of a node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeHealth {
    pub node: String,
    pub healthy: bool,
}

/// The nodes of one chain.
#[derive(Debug)]
pub struct NodePool<N> {
    members: Vec<Member<N>>,
    /// How many nodes each signed transaction goes to at once.
    send_to: usize,
    /// The chain every node must serve.
    chain_id: u64,
    /// One call's time in all, across nodes.
    budget: Duration,
}

impl NodePool<super::rpc::RpcNode> {
    /// The declared nodes over JSON-RPC, each call bounded by `timeout` in all.
    pub fn connect(
        chain_id: u64,
        nodes: &crate::config::RpcNodes,
        timeout: Duration,
    ) -> Result<Self, NodeError> {
        let members = nodes
            .iter()
            .map(|(label, weight, url)| {
                let node = super::rpc::RpcNode::new(url, timeout)
                    .map_err(|e| NodeError::Unavailable(format!("node {label}: {e}")))?;
                Ok(Member::new(label, weight, node))
            })
            .collect::<Result<Vec<_>, NodeError>>()?;
        Ok(NodePool::new(chain_id, members, nodes.send_to, timeout))
    }
}

/// A failure of the node itself (down, slow, overloaded), as against an answer about the
/// request: only these move a call to another node and count against the node's health.
fn node_failure(error: &NodeError) -> bool {
    matches!(error, NodeError::Timeout(_) | NodeError::Unavailable(_))
}

type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, NodeError>> + Send + 'a>>;

impl<N: ChainNode> NodePool<N> {
    /// Nodes that must serve `chain_id`; `send_to` is clamped to 1..=members.
    pub fn new(chain_id: u64, members: Vec<Member<N>>, send_to: usize, budget: Duration) -> Self {
        let send_to = send_to.clamp(1, members.len().max(1));
        NodePool {
            members,
            send_to,
            chain_id,
            budget,
        }
    }

    pub fn health(&self) -> Vec<NodeHealth> {
        let now = Instant::now();
        self.members
            .iter()
            .map(|m| NodeHealth {
                node: m.label.clone(),
                healthy: m.health().resting_until.is_none_or(|until| until <= now),
            })
            .collect()
    }

    /// The order to try the nodes in: those not resting (or whose rest is over), shuffled by
    /// weight, then the resting ones, soonest back first, as a last resort; and how many are
    /// not resting.
    fn order(&self) -> (Vec<usize>, usize) {
        let now = Instant::now();
        let mut ready: Vec<(f64, usize)> = Vec::new();
        let mut resting: Vec<(Instant, usize)> = Vec::new();
        for (i, member) in self.members.iter().enumerate() {
            match member.health().resting_until {
                Some(until) if until > now => resting.push((until, i)),
                // Weighted random order: the smallest -ln(u)/w goes first.
                _ => {
                    let u: f64 = rand::random::<f64>().max(f64::MIN_POSITIVE);
                    ready.push((-u.ln() / f64::from(member.weight), i));
                }
            }
        }
        ready.sort_by(|a, b| a.0.total_cmp(&b.0));
        resting.sort_by_key(|(until, _)| *until);
        let count = ready.len();
        let order = ready
            .into_iter()
            .map(|(_, i)| i)
            .chain(resting.into_iter().map(|(_, i)| i))
            .collect();
        (order, count)
    }

    /// Asks a node not yet known to serve the pool's chain which chain it serves; one that
    /// serves another rests, and is asked again after its rest.
    async fn verify(&self, member: &Member<N>, deadline: Instant) -> Result<(), Unusable> {
        if member.verified.load(Ordering::Relaxed) {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let served = match tokio::time::timeout(left, member.node.chain_id()).await {
            Ok(Ok(served)) => served,
            Ok(Err(e)) => return Err(Unusable::Failed(e)),
            Err(_) => return Err(Unusable::Failed(NodeError::Timeout(self.budget))),
        };
        if served != self.chain_id {
            tracing::error!(node = %member.label, node_chain_id = served, chain_id = self.chain_id, "the node serves another chain; it is not used");
            member.rest();
            return Err(Unusable::WrongChain(served));
        }
        member.verified.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// One node's answer (a node serving another chain fails, as one that is down).
    async fn ask<'a, T>(
        &'a self,
        i: usize,
        deadline: Instant,
        call: &(impl Fn(&'a N) -> Call<'a, T> + Sync),
    ) -> Result<T, NodeError> {
        let member = &self.members[i];
        let result = match self.verify(member, deadline).await {
            Err(Unusable::WrongChain(served)) => {
                return Err(NodeError::Unavailable(format!(
                    "node {} serves chain {served}, not {}",
                    member.label, self.chain_id
                )));
            }
            Err(Unusable::Failed(e)) => Err(e),
            Ok(()) => {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, call(&member.node)).await {
                    Ok(result) => result,
                    Err(_) => Err(NodeError::Timeout(self.budget)),
                }
            }
        };
        match &result {
            Err(e) if node_failure(e) => member.failed(e),
            _ => member.answered(),
        }
        result
    }

    /// The first answer from the nodes in `order`, trying the next while a node fails.
    async fn first<'a, T>(
        &'a self,
        order: &[usize],
        deadline: Instant,
        call: &(impl Fn(&'a N) -> Call<'a, T> + Sync),
    ) -> Result<T, NodeError> {
        let mut last = NodeError::Unavailable("no node to ask".into());
        for &i in order {
            if Instant::now() >= deadline {
                break;
            }
            match self.ask(i, deadline, call).await {
                Err(e) if node_failure(&e) => last = e,
                answer => return answer,
            }
        }
        Err(last)
    }

    async fn read<'a, T>(
        &'a self,
        call: impl Fn(&'a N) -> Call<'a, T> + Sync,
    ) -> Result<T, NodeError> {
        self.read_within(1, call).await
    }

    /// A read of `calls` node calls in a row, all asked of one node (failing over as a whole).
    async fn read_within<'a, T>(
        &'a self,
        calls: u32,
        call: impl Fn(&'a N) -> Call<'a, T> + Sync,
    ) -> Result<T, NodeError> {
        let deadline = Instant::now() + self.budget * calls.max(1);
        self.first(&self.order().0, deadline, &call).await
    }
}

/// Of several nodes' answers to the same signed bytes, the one that decides: an acceptance,
/// else "already known" (also ours in a pool), else the first answer about the transaction,
/// else the last failure.
fn decide(answers: Vec<Result<B256, NodeError>>) -> Result<B256, NodeError> {
    let mut known = false;
    let mut refusal = None;
    let mut failure = None;
    for answer in answers {
        match answer {
            Ok(hash) => return Ok(hash),
            Err(NodeError::AlreadyKnown) => known = true,
            Err(e) if node_failure(&e) => failure = Some(e),
            Err(e) => {
                refusal.get_or_insert(e);
            }
        }
    }
    if known {
        return Err(NodeError::AlreadyKnown);
    }
    Err(refusal
        .or(failure)
        .unwrap_or_else(|| NodeError::Unavailable("no node to ask".into())))
}

/// The call that sends `raw`, for any node.
fn sending<'a, N: ChainNode>(raw: &'a Bytes) -> impl Fn(&'a N) -> Call<'a, B256> + Sync {
    move |n| Box::pin(n.send_raw(raw))
}

impl<N: ChainNode> ChainNode for NodePool<N> {
    async fn pending_nonce(&self, address: Address) -> Result<u64, NodeError> {
        self.read(|n| Box::pin(n.pending_nonce(address))).await
    }

    async fn mined_nonce(&self, address: Address) -> Result<u64, NodeError> {
        self.read(|n| Box::pin(n.mined_nonce(address))).await
    }

    async fn mined_nonce_at(&self, address: Address, block: u64) -> Result<u64, NodeError> {
        self.read(|n| Box::pin(n.mined_nonce_at(address, block)))
            .await
    }

    async fn lookup(&self, hash: B256) -> Result<Lookup, NodeError> {
        self.read(|n| Box::pin(n.lookup(hash))).await
    }

    async fn head(&self) -> Result<Head, NodeError> {
        self.read(|n| Box::pin(n.head())).await
    }

    async fn plan_gas(
        &self,
        from: Address,
        to: Address,
        data: &Bytes,
    ) -> Result<GasPlan, NodeError> {
        self.read(|n| Box::pin(n.plan_gas(from, to, data))).await
    }

    /// To `send_to` nodes at once; if none of them answers, to the others in turn.
    async fn send_raw(&self, raw: &Bytes) -> Result<B256, NodeError> {
        let deadline = Instant::now() + self.budget;
        // Resting nodes only when no other is left.
        let (order, ready) = self.order();
        let (now, later) = order.split_at(self.send_to.min(ready).max(1).min(order.len()));
        let call = sending::<N>(raw);
        let answers =
            futures::future::join_all(now.iter().map(|&i| self.ask(i, deadline, &call))).await;
        match decide(answers) {
            Err(e) if node_failure(&e) && !later.is_empty() => {
                self.first(later, deadline, &call).await
            }
            decided => decided,
        }
    }

    async fn inclusion(&self, hash: B256) -> Result<Option<Inclusion>, NodeError> {
        self.read(|n| Box::pin(n.inclusion(hash))).await
    }

    async fn block_number(&self) -> Result<u64, NodeError> {
        self.read(|n| Box::pin(n.block_number())).await
    }

    async fn on_canonical_chain(&self, hash: B256) -> Result<bool, NodeError> {
        self.read(|n| Box::pin(n.on_canonical_chain(hash))).await
    }

    async fn suggested_tip(&self) -> Result<u128, NodeError> {
        self.read(|n| Box::pin(n.suggested_tip())).await
    }

    /// The pool's chain if any node serves it; else the chain a node does serve (the signer
    /// then waits, `chain_id_mismatch`), else the last failure.
    async fn chain_id(&self) -> Result<u64, NodeError> {
        let deadline = Instant::now() + self.budget;
        let mut elsewhere = None;
        let mut last = NodeError::Unavailable("no node to ask".into());
        for i in self.order().0 {
            let member = &self.members[i];
            match self.verify(member, deadline).await {
                Ok(()) => {
                    member.answered();
                    return Ok(self.chain_id);
                }
                Err(Unusable::WrongChain(served)) => {
                    elsewhere.get_or_insert(served);
                }
                Err(Unusable::Failed(e)) => {
                    if node_failure(&e) {
                        member.failed(&e);
                    }
                    last = e;
                }
            }
        }
        elsewhere.ok_or(last)
    }

    async fn balance(&self, address: Address) -> Result<u128, NodeError> {
        self.read(|n| Box::pin(n.balance(address))).await
    }

    /// All of it from one node: a lagging one must not supply the lookups that another's
    /// deep nonce made trustworthy.
    async fn nonce_use(
        &self,
        address: Address,
        nonce: u64,
        depth: u64,
        hashes: &[B256],
    ) -> Result<NonceUse, NodeError> {
        let calls = u32::try_from(hashes.len().saturating_add(2)).unwrap_or(u32::MAX);
        self.read_within(calls, |n| {
            Box::pin(n.nonce_use(address, nonce, depth, hashes))
        })
        .await
    }
}

#[cfg(test)]
mod tests;
