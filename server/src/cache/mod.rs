//! The cache store: concurrent, sharded, shared by all workers (no global lock).

use crate::state::StateOptions;

/// The key/value store behind the cache commands.
pub struct Store {
    databases: usize,
}

impl Store {
    pub fn new(options: &StateOptions) -> Result<Self, String> {
        if options.databases == 0 {
            return Err("databases must be at least 1".into());
        }
        Ok(Store {
            databases: options.databases,
        })
    }

    pub fn databases(&self) -> usize {
        self.databases
    }
}
