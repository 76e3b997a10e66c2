//! The vocabulary of the engine: documents and values, filters, options,
//! search options, limits, errors, statistics and progress reports. It
//! imports nothing above it (no engine, no public handle), so every other
//! folder may use it.

pub(crate) mod document;
pub(crate) mod error;
pub(crate) mod filter;
pub(crate) mod id;
pub mod limits;
pub(crate) mod metrics;
pub(crate) mod options;
pub(crate) mod progress;
pub(crate) mod search_options;
pub(crate) mod stats;
pub(crate) mod validate;
