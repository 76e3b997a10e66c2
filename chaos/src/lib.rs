//! `vego-chaos`: crash loops that check Vego against a model of acknowledged
//! writes.
//!
//! * [`workload`] — a deterministic random workload (upserts, deletes,
//!   updates, inserts, atomic batches) and the model that says what the store
//!   must hold after any prefix of it.
//! * [`kill`] — the `kill` mode: a child process runs the workload with
//!   `Durability::Sync` (flushing to segments every 23rd operation, compacting every 97th), reporting
//!   each acknowledged operation over a pipe;
//!   the parent SIGKILLs it at random moments, reopens the database and
//!   compares it with the model.

pub mod kill;
pub mod workload;
