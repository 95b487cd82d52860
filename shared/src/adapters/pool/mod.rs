//! [`ChainNode`] over several nodes of one chain: each call goes to a healthy node, picked at
//! random by weight, and fails over to the next when a node is down, slow, or refuses in a way
//! that is its own (a rate limit, a method it lacks); a node that keeps failing rests (a
//! circuit breaker), then one call probes it. Signed bytes may go to several nodes at once:
//! the same bytes, so any node's acceptance or "already known" decides.
//!
//! A decision made of several reads (is this nonce a stranger's? is this receipt deep and
//! canonical?) must not take half its answers from a node that lags: [`ChainNode::one`] gives
//! it one node for all of them.
//!
//! Every node is asked which chain it serves before it is first used (per container): one that
//! serves another chain is never asked anything else.
//!
//! Time: a call gets the node's timeout for each request it makes (a lookup is two), across
//! all the nodes it tries; a node's first use adds one timeout for its chain check. A node is
//! blamed for a timeout only if it had a whole one.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, keccak256};
use tokio::time::Instant;

use crate::domain::Inclusion;
use crate::ports::{ChainNode, GasPlan, Head, Lookup, NodeError};

#[cfg(test)]
mod tests;

/// Failures in a row after which a node rests (a timeout rests it at once: it cost a whole
/// call's time).
pub const FAILURES_BEFORE_REST: u32 = 3;

/// How long a failing node rests before a call probes it again.
pub const REST: Duration = Duration::from_secs(30);

/// One node of the pool, named by a label that never carries its URL.
pub struct Member<N> {
    pub label: String,
    pub weight: u32,
    pub node: N,
    health: Mutex<Health>,
    /// Whether it was found to serve the pool's chain.
    verified: AtomicBool,
}

impl<N> fmt::Debug for Member<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("label", &self.label)
            .field("weight", &self.weight)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Health {
    failures: u32,
    resting_until: Option<Instant>,
    /// When a call began probing it after a rest: until that call ends, no other probes.
    probing_since: Option<Instant>,
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

    fn update<T>(&self, change: impl FnOnce(&mut Health) -> T) -> T {
        change(
            &mut self
                .health
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Ready for a call now: not resting, or its rest is over and nobody is probing it (this
    /// call then is the probe). A probe whose call never ended (dropped) is given up after
    /// `stale`.
    fn take_if_ready(&self, now: Instant, stale: Duration) -> bool {
        self.update(|h| match h.resting_until {
            None => true,
            Some(until) if until > now => false,
            Some(_) => match h.probing_since {
                Some(since) if now.duration_since(since) < stale => false,
                _ => {
                    h.probing_since = Some(now);
                    true
                }
            },
        })
    }

    fn healthy(&self, now: Instant) -> bool {
        self.update(|h| h.resting_until.is_none_or(|until| until <= now))
    }

    fn resting_until(&self) -> Option<Instant> {
        self.update(|h| h.resting_until)
    }

    fn answered(&self) {
        self.update(|h| *h = Health::default());
    }

    fn failed(&self, error: &NodeError) {
        let rests = self.update(|h| {
            h.failures = h.failures.saturating_add(1);
            h.probing_since = None;
            // A timeout cost a whole call's time: the node rests at once.
            let rests =
                matches!(error, NodeError::Timeout(_)) || h.failures >= FAILURES_BEFORE_REST;
            if rests || h.resting_until.is_some() {
                h.resting_until = Some(Instant::now() + REST);
            }
            rests
        });
        if rests {
            tracing::warn!(node = %self.label, %error, rest_seconds = REST.as_secs(), "node failing; it rests");
        } else {
            tracing::warn!(node = %self.label, %error, "node failed; trying another");
        }
    }

    fn rest(&self) {
        self.update(|h| {
            h.resting_until = Some(Instant::now() + REST);
            h.probing_since = None;
        });
    }
}

pub use crate::ports::NodeHealth;

/// The nodes of one chain.
pub struct NodePool<N> {
    members: Vec<Member<N>>,
    /// How many nodes each signed transaction goes to at once.
    send_to: usize,
    /// The chain every node must serve.
    chain_id: u64,
    /// One request's time: the nodes' timeout.
    timeout: Duration,
}

impl<N> fmt::Debug for NodePool<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodePool")
            .field("members", &self.members)
            .field("send_to", &self.send_to)
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

impl NodePool<super::rpc::RpcNode> {
    /// A declared chain's nodes, for a function's start-up: a node that can't be reached by
    /// its URL stops it, naming the chain.
    pub fn for_chain(
        chain: &crate::config::ChainDecl,
        timeout: Duration,
    ) -> Result<Self, crate::config::ConfigError> {
        NodePool::connect(chain.id, chain.nodes()?, timeout).map_err(|e| {
            crate::config::ConfigError::Invalid {
                name: "CHAINS",
                reason: format!("chain {}: `nodes`: {e}", chain.id),
            }
        })
    }

    /// The declared nodes over JSON-RPC, each request bounded by `timeout`.
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

/// A failure of the node itself (down, slow, overloaded, unlisted words): it counts against
/// the node's health.
fn node_failure(error: &NodeError) -> bool {
    matches!(
        error,
        NodeError::Timeout(_) | NodeError::Unavailable(_) | NodeError::Unrecognized(_)
    )
}

/// Whether another node may answer differently: anything but an answer about the request
/// that every node of the chain gives alike (a call that reverts, an account short of funds,
/// a nonce the chain used).
fn worth_another(error: &NodeError) -> bool {
    !matches!(
        error,
        NodeError::Reverted(_)
            | NodeError::InsufficientFunds(_)
            | NodeError::NonceTooLow(_)
            | NodeError::AlreadyKnown
    )
}

type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, NodeError>> + Send + 'a>>;

/// Why a node was not asked.
enum Unusable {
    /// It serves this other chain.
    WrongChain(u64),
    Failed(NodeError),
}

impl<N: ChainNode> NodePool<N> {
    /// Nodes that must serve `chain_id`; `send_to` is clamped to 1..=members.
    pub fn new(chain_id: u64, members: Vec<Member<N>>, send_to: usize, timeout: Duration) -> Self {
        let send_to = send_to.clamp(1, members.len().max(1));
        NodePool {
            members,
            send_to,
            chain_id,
            timeout,
        }
    }

    pub fn health(&self) -> Vec<NodeHealth> {
        let now = Instant::now();
        self.members
            .iter()
            .map(|m| NodeHealth {
                node: m.label.clone(),
                healthy: m.healthy(now),
            })
            .collect()
    }

    /// The order to try the nodes in: the ready ones shuffled by weight, then the resting
    /// ones, soonest back first, as a last resort; and how many are ready.
    fn order(&self) -> (Vec<usize>, usize) {
        let now = Instant::now();
        let mut ready: Vec<(f64, usize)> = Vec::new();
        let mut resting: Vec<(Option<Instant>, usize)> = Vec::new();
        for (i, member) in self.members.iter().enumerate() {
            if member.take_if_ready(now, self.timeout * 4) {
                // Weighted random order: the smallest -ln(u)/w goes first.
                let u: f64 = rand::random::<f64>().max(f64::MIN_POSITIVE);
                ready.push((-u.ln() / f64::from(member.weight), i));
            } else {
                resting.push((member.resting_until(), i));
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

    /// Asks a node not yet known to serve the pool's chain which chain it serves, within one
    /// timeout of its own (and `deadline`); one that serves another rests, and is asked again
    /// after its rest.
    async fn verify(&self, member: &Member<N>, deadline: Instant) -> Result<(), Unusable> {
        if member.verified.load(Ordering::Relaxed) {
            return Ok(());
        }
        let served = match self
            .bounded(
                member,
                deadline.min(Instant::now() + self.timeout),
                1,
                || member.node.chain_id(),
            )
            .await
        {
            Ok(served) => served,
            Err(e) => return Err(Unusable::Failed(e)),
        };
        if served != self.chain_id {
            tracing::error!(node = %member.label, node_chain_id = served, chain_id = self.chain_id, "the node serves another chain; it is not used");
            member.rest();
            return Err(Unusable::WrongChain(served));
        }
        member.verified.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// One node's answer to a call of `requests` requests, by `deadline`, counted against
    /// its health. A timeout is its fault only if it had a whole `requests` timeouts.
    async fn bounded<T, F: Future<Output = Result<T, NodeError>>>(
        &self,
        member: &Member<N>,
        deadline: Instant,
        requests: u32,
        call: impl FnOnce() -> F,
    ) -> Result<T, NodeError> {
        let full = self.timeout * requests.max(1);
        let left = deadline.saturating_duration_since(Instant::now());
        let result = match tokio::time::timeout(left, call()).await {
            Ok(result) => result,
            Err(_) => Err(NodeError::Timeout(full)),
        };
        match &result {
            Err(NodeError::Timeout(_)) if left < full => {}
            Err(e) if node_failure(e) => member.failed(e),
            _ => member.answered(),
        }
        result
    }

    /// One node's answer (a node serving another chain fails as one that is down).
    async fn ask<'a, T>(
        &'a self,
        i: usize,
        deadline: Instant,
        requests: u32,
        call: &(impl Fn(&'a N) -> Call<'a, T> + Sync),
    ) -> Result<T, NodeError> {
        let member = &self.members[i];
        match self.verify(member, deadline + self.timeout).await {
            Ok(()) => {}
            Err(Unusable::WrongChain(served)) => {
                return Err(NodeError::Unavailable(format!(
                    "node {} serves chain {served}, not {}",
                    member.label, self.chain_id
                )));
            }
            Err(Unusable::Failed(e)) => return Err(e),
        }
        self.bounded(member, deadline, requests, || call(&member.node))
            .await
    }

    /// The first answer from the nodes in `order`, trying the next while a node fails or
    /// refuses in its own way; if every node refuses, the first refusal.
    async fn first<'a, T>(
        &'a self,
        order: &[usize],
        deadline: Instant,
        requests: u32,
        call: &(impl Fn(&'a N) -> Call<'a, T> + Sync),
    ) -> Result<T, NodeError> {
        let mut refusal = None;
        let mut last = NodeError::Unavailable("no node to ask".into());
        for &i in order {
            if Instant::now() >= deadline {
                break;
            }
            match self.ask(i, deadline, requests, call).await {
                Err(e) if node_failure(&e) => last = e,
                Err(e) if worth_another(&e) => {
                    refusal.get_or_insert(e);
                }
                answer => return answer,
            }
        }
        Err(refusal.unwrap_or(last))
    }

    /// A call of `requests` requests, failing over between the nodes.
    async fn read<'a, T>(
        &'a self,
        requests: u32,
        call: impl Fn(&'a N) -> Call<'a, T> + Sync,
    ) -> Result<T, NodeError> {
        let deadline = Instant::now() + self.timeout * requests;
        self.first(&self.order().0, deadline, requests, &call).await
    }
}

/// Of several nodes' answers to the same signed bytes, the one that decides: an acceptance,
/// else "already known" (also ours in a pool), else the first refusal, else the last failure.
fn decide(answers: Vec<Result<B256, NodeError>>) -> Result<B256, NodeError> {
    let mut known = false;
    let mut refusal = None;
    let mut full = None;
    let mut failure = None;
    for answer in answers {
        match answer {
            Ok(hash) => return Ok(hash),
            Err(NodeError::AlreadyKnown) => known = true,
            Err(e) if node_failure(&e) => failure = Some(e),
            // One node's full pool says less than an answer every node gives alike ("nonce
            // too low" when our bytes are mined): it only decides if nothing else does.
            Err(e @ NodeError::PoolFull(_)) => {
                full.get_or_insert(e);
            }
            Err(e) => {
                refusal.get_or_insert(e);
            }
        }
    }
    if known {
        return Err(NodeError::AlreadyKnown);
    }
    Err(refusal
        .or(full)
        .or(failure)
        .unwrap_or_else(|| NodeError::Unavailable("no node to ask".into())))
}

/// The call that sends `raw`, for any node: a node that names another hash for our bytes is
/// wrong, and fails.
fn sending<'a, N: ChainNode>(raw: &'a Bytes) -> impl Fn(&'a N) -> Call<'a, B256> + Sync {
    let ours = keccak256(raw);
    move |n| {
        Box::pin(async move {
            match n.send_raw(raw).await {
                Ok(hash) if hash != ours => Err(NodeError::Unavailable(format!(
                    "the node named {hash} for bytes whose hash is {ours}"
                ))),
                answer => answer,
            }
        })
    }
}

/// Requests per call, as [`super::rpc::RpcNode`] makes them.
const LOOKUP: u32 = 2;
const CANONICAL: u32 = 2;
const PLAN: u32 = 2;

/// The reads a pool and a pinned node route alike: each through the implementor's
/// `read(requests, call)`, with the requests it makes as [`super::rpc::RpcNode`] makes them.
macro_rules! reads {
    () => {
        async fn pending_nonce(&self, address: Address) -> Result<u64, NodeError> {
            self.read(1, |n| Box::pin(n.pending_nonce(address))).await
        }

        async fn mined_nonce(&self, address: Address) -> Result<u64, NodeError> {
            self.read(1, |n| Box::pin(n.mined_nonce(address))).await
        }

        async fn mined_nonce_at(&self, address: Address, block: u64) -> Result<u64, NodeError> {
            self.read(1, |n| Box::pin(n.mined_nonce_at(address, block)))
                .await
        }

        async fn lookup(&self, hash: B256) -> Result<Lookup, NodeError> {
            self.read(LOOKUP, |n| Box::pin(n.lookup(hash))).await
        }

        async fn head(&self) -> Result<Head, NodeError> {
            self.read(1, |n| Box::pin(n.head())).await
        }

        async fn inclusion(&self, hash: B256) -> Result<Option<Inclusion>, NodeError> {
            self.read(1, |n| Box::pin(n.inclusion(hash))).await
        }

        async fn block_number(&self) -> Result<u64, NodeError> {
            self.read(1, |n| Box::pin(n.block_number())).await
        }

        async fn on_canonical_chain(&self, hash: B256) -> Result<bool, NodeError> {
            self.read(CANONICAL, |n| Box::pin(n.on_canonical_chain(hash)))
                .await
        }

        async fn suggested_tip(&self) -> Result<u128, NodeError> {
            self.read(1, |n| Box::pin(n.suggested_tip())).await
        }

        async fn balance(&self, address: Address) -> Result<u128, NodeError> {
            self.read(1, |n| Box::pin(n.balance(address))).await
        }
    };
}

impl<N: ChainNode> ChainNode for NodePool<N> {
    reads!();

    async fn plan_gas(
        &self,
        from: Address,
        to: Address,
        data: &Bytes,
    ) -> Result<GasPlan, NodeError> {
        self.read(PLAN, |n| Box::pin(n.plan_gas(from, to, data)))
            .await
    }

    /// To `send_to` ready nodes at once; if none of them takes it, to the others in turn.
    async fn send_raw(&self, raw: &Bytes) -> Result<B256, NodeError> {
        let deadline = Instant::now() + self.timeout;
        let (order, ready) = self.order();
        let (now, later) = order.split_at(self.send_to.min(ready).max(1).min(order.len()));
        let call = sending::<N>(raw);
        let answers =
            futures::future::join_all(now.iter().map(|&i| self.ask(i, deadline, 1, &call))).await;
        match decide(answers) {
            Err(e) if worth_another(&e) && !later.is_empty() => {
                let retried = self.first(later, deadline, 1, &call).await;
                match (&retried, &e) {
                    // Nobody else answered: the first refusal stands.
                    (Err(again), first) if node_failure(again) && !node_failure(first) => Err(e),
                    _ => retried,
                }
            }
            decided => decided,
        }
    }

    /// The pool's chain if any node serves it; else the chain the nodes serve (the signer
    /// then waits, `chain_id_mismatch`), if no node failed to say; else a failure.
    async fn chain_id(&self) -> Result<u64, NodeError> {
        let deadline = Instant::now() + self.timeout;
        let mut elsewhere = None;
        let mut failed = None;
        for i in self.order().0 {
            if Instant::now() >= deadline {
                break;
            }
            match self.verify(&self.members[i], deadline).await {
                Ok(()) => return Ok(self.chain_id),
                Err(Unusable::WrongChain(served)) => {
                    elsewhere.get_or_insert(served);
                }
                Err(Unusable::Failed(e)) => failed = Some(e),
            }
        }
        // A node that could not say may serve the chain: that is no mismatch yet.
        match (failed, elsewhere) {
            (None, Some(served)) => Ok(served),
            (Some(e), _) => Err(e),
            (None, None) => Err(NodeError::Timeout(self.timeout)),
        }
    }

    fn one(&self) -> impl ChainNode + '_ {
        let member = self.order().0.first().copied().unwrap_or(0);
        Pinned { pool: self, member }
    }

    /// Every node asked its head at once (its chain checked first, if it never was): one
    /// that answers, serving the chain, is healthy, and a resting one that answers is back.
    async fn probe(&self) -> Vec<NodeHealth> {
        let deadline = Instant::now() + self.timeout;
        let probes = self
            .members
            .iter()
            .enumerate()
            .map(|(i, member)| async move {
                let answered = self
                    .ask(i, deadline, 1, &|n: &N| -> Call<'_, u64> {
                        Box::pin(n.block_number())
                    })
                    .await
                    .is_ok();
                NodeHealth {
                    node: member.label.clone(),
                    healthy: answered,
                }
            });
        futures::future::join_all(probes).await
    }
}

/// One node of a pool, for a decision made of several reads: no fail-over (a failure fails
/// the decision, and the node's health), the chain still checked.
struct Pinned<'a, N> {
    pool: &'a NodePool<N>,
    member: usize,
}

impl<N> Clone for Pinned<'_, N> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<N> Copy for Pinned<'_, N> {}

impl<'a, N: ChainNode> Pinned<'a, N> {
    async fn read<T>(
        &self,
        requests: u32,
        call: impl Fn(&'a N) -> Call<'a, T> + Sync,
    ) -> Result<T, NodeError> {
        if self.member >= self.pool.members.len() {
            return Err(NodeError::Unavailable("no node to ask".into()));
        }
        let deadline = Instant::now() + self.pool.timeout * requests;
        self.pool.ask(self.member, deadline, requests, &call).await
    }
}

impl<N: ChainNode> ChainNode for Pinned<'_, N> {
    reads!();

    async fn plan_gas(
        &self,
        from: Address,
        to: Address,
        data: &Bytes,
    ) -> Result<GasPlan, NodeError> {
        // The data outlives the call; the closure can't say so for any 'a, so it is copied.
        let data = data.clone();
        self.read(PLAN, move |n| {
            let data = data.clone();
            Box::pin(async move { n.plan_gas(from, to, &data).await })
        })
        .await
    }

    async fn send_raw(&self, raw: &Bytes) -> Result<B256, NodeError> {
        let raw = raw.clone();
        self.read(1, move |n| {
            let raw = raw.clone();
            Box::pin(async move { sending::<N>(&raw)(n).await })
        })
        .await
    }

    async fn chain_id(&self) -> Result<u64, NodeError> {
        let served = self.pool.chain_id;
        self.read(1, move |_| Box::pin(async move { Ok(served) }))
            .await
    }

    fn one(&self) -> impl ChainNode + '_ {
        *self
    }
}
