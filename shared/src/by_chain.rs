//! One of something per chain served (a signer, a broadcaster, a watchdog), found by the
//! chain id a transaction carries.

/// Why a transaction whose chain is not among those served waits (`chain_not_served`, the
/// waiting alarm): `what` it could not do (`"sign it"`), logged here once.
pub fn not_served(chain_id: u64, what: &str) -> String {
    let reason = format!(
        "chain_not_served: the transaction is for chain {chain_id}, which this deployment no longer declares; declare it again (its keys and nodes) to {what}"
    );
    tracing::error!(%reason, "a transaction for a chain not served");
    reason
}

/// A value per chain, the default chain's first. Never empty.
#[derive(Debug)]
pub struct ByChain<T> {
    chains: Vec<(u64, T)>,
}

impl<T> ByChain<T> {
    /// The default chain's first; ids distinct. `None` for an empty list or an id twice (the
    /// chains' declaration refuses both, so only a wiring mistake gets here).
    pub fn new(chains: Vec<(u64, T)>) -> Option<Self> {
        let mut ids: Vec<u64> = chains.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        (!chains.is_empty() && ids.len() == chains.len()).then_some(ByChain { chains })
    }

    /// A part per declared chain, the default chain's first; the first chain whose part can't
    /// be made stops it.
    pub fn of_chains(
        chains: &crate::config::Chains,
        mut part: impl FnMut(&crate::config::ChainDecl) -> Result<T, crate::config::ConfigError>,
    ) -> Result<Self, crate::config::ConfigError> {
        let parts = chains
            .iter()
            .map(|chain| Ok((chain.id, part(chain)?)))
            .collect::<Result<Vec<_>, _>>()?;
        // The declaration is never empty and its ids are distinct.
        ByChain::new(parts).ok_or(crate::config::ConfigError::Missing("CHAINS"))
    }

    /// A deployment of one chain.
    pub fn one(chain_id: u64, value: T) -> Self {
        ByChain {
            chains: vec![(chain_id, value)],
        }
    }

    pub fn get(&self, chain_id: u64) -> Option<&T> {
        self.chains
            .iter()
            .find(|(id, _)| *id == chain_id)
            .map(|(_, value)| value)
    }

    /// The default chain's.
    pub fn first(&self) -> &T {
        // Never empty: both constructors see to it.
        &self.chains[0].1
    }

    /// The default chain's id.
    pub fn first_id(&self) -> u64 {
        self.chains[0].0
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        self.chains.iter().map(|(id, value)| (*id, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_by_chain_and_the_default_comes_first() {
        let chains = ByChain::new(vec![(8453, "base"), (1, "ethereum")])
            .unwrap_or_else(|| panic!("two chains"));
        assert_eq!((chains.first_id(), *chains.first()), (8453, "base"));
        assert_eq!(chains.get(1), Some(&"ethereum"));
        assert_eq!(chains.get(2), None);
        assert!(ByChain::<u8>::new(vec![]).is_none());
        assert!(ByChain::new(vec![(1, 'a'), (1, 'b')]).is_none());
        assert_eq!(ByChain::one(7, ()).iter().count(), 1);
    }
}
