//! A collection's core together with the database it lives in: what the
//! write and read paths work on, and what a public `Collection` or
//! `Snapshot` handle holds.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::engine::core::CollectionCore;
use crate::engine::shared::DbShared;
use crate::{Error, Result};

/// A collection's core and its database.
pub(crate) struct CollectionInner {
    pub core: Arc<CollectionCore>,
    pub db: Arc<DbShared>,
}

impl CollectionInner {
    pub fn check_live(&self) -> Result<()> {
        self.db.check_open()?;
        if self.core.dropped.load(Ordering::Acquire) {
            return Err(Error::CollectionNotFound(self.core.name.clone()));
        }
        Ok(())
    }
}
