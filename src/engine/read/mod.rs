//! The read path: searches (`search`: graph or exact scan of every layer
//! under visibility and filter, merged), id scans for counts and paging
//! (`scan`), and the collection's counters (`stats`).

pub(crate) mod scan;
pub(crate) mod search;
pub(crate) mod stats;
