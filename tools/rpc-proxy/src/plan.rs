//! Deciding, from the config and the random generator, what happens to one request in scope.
//! Pure, so the rolls can be tested without a network.

use std::time::Duration;

use axum::http::StatusCode;
use rand::Rng;
use rand::seq::IndexedRandom;

use crate::config::{Fault, ProxyConfig, RpcErrorKind};

/// What the proxy does with one request in scope.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// Waited before answering (and, unless `forward_before_latency`, before forwarding).
    pub(crate) delay: Duration,
    pub(crate) slow: bool,
    /// Whether a forwarded call goes upstream before the delay rather than after it.
    pub(crate) forward_first: bool,
    pub(crate) action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    Forward,
    Http5xx(StatusCode),
    RpcError(RpcErrorKind),
    /// Hold the connection this long, then close it without an answer.
    Hang(Duration),
    Drop,
}

impl Action {
    pub(crate) fn fault(&self) -> Option<Fault> {
        match self {
            Action::Forward => None,
            Action::Http5xx(_) => Some(Fault::Http5xx),
            Action::RpcError(kind) => Some(Fault::RpcError(*kind)),
            Action::Hang(_) => Some(Fault::Hang),
            Action::Drop => Some(Fault::Drop),
        }
    }
}

/// Plans one request in scope. A pending `fail_next` wins over the probabilities, and is
/// counted down here.
pub(crate) fn plan_request(config: &mut ProxyConfig, rng: &mut impl Rng) -> Plan {
    if let Some(fail_next) = config.fail_next.as_mut() {
        if fail_next.count > 0 {
            fail_next.count -= 1;
            let fault = fail_next.fault;
            if fail_next.count == 0 {
                config.fail_next = None;
            }
            return Plan {
                delay: normal_latency(config, rng),
                slow: false,
                forward_first: config.forward_before_latency,
                action: fault_action(config, rng, fault),
            };
        }
        config.fail_next = None;
    }

    // One roll, cut into disjoint slices: faults first, then slow, the rest answers normally.
    let mut roll: f64 = rng.random();
    let mut lands_in = |probability: f64| {
        if roll < probability {
            true
        } else {
            roll -= probability;
            false
        }
    };
    let fault = if lands_in(config.http_5xx_probability) {
        Some(Fault::Http5xx)
    } else if lands_in(config.rpc_error_probability) {
        Some(Fault::RpcError(
            config
                .rpc_errors
                .choose(rng)
                .copied()
                // Validation refuses an empty list with a probability above 0.
                .unwrap_or(RpcErrorKind::Internal),
        ))
    } else if lands_in(config.hang_probability) {
        Some(Fault::Hang)
    } else if lands_in(config.drop_probability) {
        Some(Fault::Drop)
    } else {
        None
    };
    let slow = fault.is_none() && lands_in(config.slow_probability);

    match fault {
        Some(fault) => Plan {
            delay: normal_latency(config, rng),
            slow: false,
            forward_first: config.forward_before_latency,
            action: fault_action(config, rng, fault),
        },
        None if slow => Plan {
            delay: config.scaled(uniform_ms(rng, config.slow_latency_ms)),
            slow: true,
            forward_first: config.forward_before_latency,
            action: Action::Forward,
        },
        None => Plan {
            delay: normal_latency(config, rng),
            slow: false,
            forward_first: config.forward_before_latency,
            action: Action::Forward,
        },
    }
}

fn fault_action(config: &ProxyConfig, rng: &mut impl Rng, fault: Fault) -> Action {
    match fault {
        Fault::Http5xx => Action::Http5xx(if rng.random_bool(0.5) {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        }),
        Fault::RpcError(kind) => Action::RpcError(kind),
        Fault::Hang => Action::Hang(config.scaled(config.hang_ms)),
        Fault::Drop => Action::Drop,
    }
}

fn normal_latency(config: &ProxyConfig, rng: &mut impl Rng) -> Duration {
    config.scaled(uniform_ms(rng, config.latency_ms))
}

fn uniform_ms(rng: &mut impl Rng, [min, max]: [u64; 2]) -> u64 {
    if min >= max {
        min
    } else {
        rng.random_range(min..=max)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::config::FailNext;

    #[test]
    fn fail_next_comes_before_probabilities_and_counts_down() {
        let mut config = ProxyConfig {
            fail_next: Some(FailNext {
                count: 2,
                fault: Fault::RpcError(RpcErrorKind::NonceTooLow),
            }),
            ..ProxyConfig::default()
        };
        let mut rng = StdRng::seed_from_u64(1);
        for remaining in [Some(1), None] {
            let plan = plan_request(&mut config, &mut rng);
            assert_eq!(plan.action, Action::RpcError(RpcErrorKind::NonceTooLow));
            assert_eq!(config.fail_next.map(|f| f.count), remaining);
        }
        assert_eq!(plan_request(&mut config, &mut rng).action, Action::Forward);
    }

    #[test]
    fn a_hang_holds_for_the_scaled_hang_time() {
        let mut config = ProxyConfig {
            hang_probability: 1.0,
            hang_ms: 10_000,
            time_scale: 0.01,
            ..ProxyConfig::default()
        };
        let plan = plan_request(&mut config, &mut StdRng::seed_from_u64(1));
        assert_eq!(plan.action, Action::Hang(Duration::from_millis(100)));
    }

    #[test]
    fn the_rolls_follow_the_probabilities() {
        let mut config = ProxyConfig::challenge();
        let mut rng = StdRng::seed_from_u64(42);
        let rounds = 100_000;
        let (mut normal, mut slow, mut faults) = (0u32, 0u32, 0u32);
        for _ in 0..rounds {
            let plan = plan_request(&mut config, &mut rng);
            match (&plan.action, plan.slow) {
                (Action::Forward, false) => {
                    normal += 1;
                    assert!(plan.delay >= Duration::from_secs(20));
                    assert!(plan.delay <= Duration::from_secs(30));
                }
                (Action::Forward, true) => {
                    slow += 1;
                    assert!(plan.delay > Duration::from_secs(30));
                    assert!(plan.delay <= Duration::from_secs(45));
                }
                _ => faults += 1,
            }
        }
        let share = |n: u32| f64::from(n) / f64::from(rounds);
        // Loose: a seeded generator makes this exact anyway; the bounds only catch a wrong cut.
        assert!((share(normal) - 0.95).abs() < 0.01, "normal {normal}");
        assert!((share(slow) - 0.01).abs() < 0.003, "slow {slow}");
        assert!((share(faults) - 0.04).abs() < 0.005, "faults {faults}");
    }

    #[test]
    fn the_same_seed_gives_the_same_plans() {
        let config = ProxyConfig {
            latency_ms: [0, 1_000],
            http_5xx_probability: 0.2,
            rpc_error_probability: 0.2,
            ..ProxyConfig::default()
        };
        let plans = |seed| {
            let mut config = config.clone();
            let mut rng = StdRng::seed_from_u64(seed);
            (0..200)
                .map(|_| plan_request(&mut config, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(plans(7), plans(7));
    }
}
