//! The public handles: `Db`, `Collection`, `Snapshot`. Thin: each call
//! checks its arguments and state and hands over to the engine, which never
//! imports this folder.

pub(crate) mod collection;
pub(crate) mod db;
pub(crate) mod snapshot;
