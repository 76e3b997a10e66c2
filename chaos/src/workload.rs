//! The deterministic workload and its model.
//!
//! Operation `i` of a run with seed `s` is a pure function of `(s, i)`, so the
//! parent can recompute what the child did from the indices it acknowledged.
//! Every document carries its key in metadata and a vector derived from that
//! key, so a document read back can be checked for internal consistency too.

use std::collections::BTreeMap;

use vego::{Collection, Document, Value};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Vector dimension of the workload's collection.
pub const DIM: usize = 8;
/// Ids `p0 … p{POOL-1}` are reused by updates, upserts and deletes.
pub const POOL: u64 = 64;

/// One operation.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Upsert one document, or several atomically with `upsert_batch`.
    Upsert(Vec<(String, u64)>),
    /// Insert a batch of fresh ids atomically with `insert_batch`.
    InsertBatch(Vec<(String, u64)>),
    /// Delete an id (a no-op if absent).
    Delete(String),
    /// Update an id (a no-op if absent: `NotFound` is expected).
    Update(String, u64),
    /// Write the memtable to a segment (no change to the contents), so kills
    /// also land mid-flush and recovery must combine segments and WAL.
    Flush,
    /// Merge the segments (no change to the contents), so kills also land
    /// mid-compaction.
    Compact,
}

impl Op {
    /// Whether the operation writes documents (as opposed to flush / compact).
    pub fn is_write(&self) -> bool {
        !matches!(self, Op::Flush | Op::Compact)
    }

    /// Ids the operation creates that are not in the reused pool.
    pub fn fresh_ids(&self) -> Vec<String> {
        match self {
            Op::InsertBatch(docs) => docs.iter().map(|(id, _)| id.clone()).collect(),
            _ => Vec::new(),
        }
    }
}

/// The ids every run may touch before its first operation: the pool.
pub fn pool_ids() -> Vec<String> {
    (0..POOL).map(|p| format!("p{p}")).collect()
}

/// The model: id → key of the document that must be stored.
pub type Model = BTreeMap<String, u64>;

/// Operation `i` of the run seeded with `seed`.
pub fn op(seed: u64, i: u64) -> Op {
    let mut r = StdRng::seed_from_u64(seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407));
    let pool_id = |r: &mut StdRng| format!("p{}", r.gen_range(0..POOL));
    let key = i * 100;
    if i % 23 == 22 {
        return Op::Flush;
    }
    if i % 97 == 96 {
        return Op::Compact;
    }
    match r.gen_range(0..10) {
        0..=3 => Op::Upsert(vec![(pool_id(&mut r), key)]),
        4 | 5 => Op::Delete(pool_id(&mut r)),
        6 => Op::Update(pool_id(&mut r), key),
        7 | 8 => {
            let n = 2 + r.gen_range(0..20);
            let mut ids: Vec<String> = (0..n).map(|_| pool_id(&mut r)).collect();
            ids.sort();
            ids.dedup();
            Op::Upsert(ids.into_iter().enumerate().map(|(j, id)| (id, key + j as u64)).collect())
        }
        _ => Op::InsertBatch((0..1 + r.gen_range(0..8)).map(|j| (format!("f{i}-{j}"), key + j)).collect()),
    }
}

/// The vector stored for `key`.
pub fn vector(key: u64) -> Vec<f32> {
    let mut r = StdRng::seed_from_u64(key);
    (0..DIM).map(|_| r.gen_range(-1.0..1.0)).collect()
}

fn doc(id: &str, key: u64) -> Document {
    Document::new(id, vector(key)).with("key", key as i64)
}

/// Applies `op` to the model.
pub fn apply(model: &mut Model, op: &Op) {
    match op {
        Op::Upsert(docs) | Op::InsertBatch(docs) => docs.iter().for_each(|(id, k)| {
            model.insert(id.clone(), *k);
        }),
        Op::Delete(id) => {
            model.remove(id);
        }
        Op::Update(id, k) => {
            if let Some(v) = model.get_mut(id) {
                *v = *k;
            }
        }
        Op::Flush | Op::Compact => {}
    }
}

/// Runs `op` against the store.
pub fn run(c: &Collection, op: &Op) -> vego::Result<()> {
    match op {
        Op::Upsert(docs) if docs.len() == 1 => c.upsert(doc(&docs[0].0, docs[0].1)),
        Op::Upsert(docs) => c.upsert_batch(docs.iter().map(|(id, k)| doc(id, *k)).collect()),
        Op::InsertBatch(docs) => c.insert_batch(docs.iter().map(|(id, k)| doc(id, *k)).collect()),
        Op::Delete(id) => c.delete(id).map(drop),
        Op::Update(id, k) => match c.update(doc(id, *k)) {
            Err(vego::Error::NotFound(_)) => Ok(()),
            other => other,
        },
        Op::Flush => c.flush(),
        Op::Compact => c.compact().map(drop),
    }
}

/// Every id operations `0..=last` of a run can have touched.
pub fn ids(seed: u64, last: u64) -> Vec<String> {
    let mut ids = pool_ids();
    for i in 0..=last {
        ids.extend(op(seed, i).fresh_ids());
    }
    ids
}

/// What the store holds for `ids`; documents whose vector does not match
/// their key are returned in the second list (corruption).
pub fn read_back(c: &Collection, ids: &[String]) -> vego::Result<(Model, Vec<String>)> {
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut found = Model::new();
    let mut corrupt = Vec::new();
    for (id, d) in ids.iter().zip(c.get_batch(&refs)?) {
        let Some(d) = d else { continue };
        match d.metadata.get("key") {
            Some(Value::Int(k)) if d.vector == vector(*k as u64) => {
                found.insert(id.clone(), *k as u64);
            }
            _ => corrupt.push(id.clone()),
        }
    }
    Ok((found, corrupt))
}

/// Reads every id back and compares with `model`. The operation
/// `in_flight` (unacknowledged: it failed or the crash interrupted it) may
/// have been applied whole or not at all; if it was, the model is updated.
/// Also checks the live count and that a search runs. Returns (lost,
/// corrupt): acknowledged effects missing, and documents that no prefix of
/// the workload explains or that are damaged (plus 1 for a wrong count).
pub fn check(c: &Collection, ids: &[String], model: &mut Model, in_flight: Option<&Op>) -> vego::Result<(u64, u64)> {
    let (found, damaged) = read_back(c, ids)?;
    let mut with_in_flight = model.clone();
    if let Some(op) = in_flight {
        apply(&mut with_in_flight, op);
    }
    let (lost, mut corrupt) = if found == *model {
        (0, damaged.len() as u64)
    } else if found == with_in_flight {
        *model = with_in_flight;
        (0, damaged.len() as u64)
    } else {
        let lost = model.iter().filter(|(id, k)| found.get(*id) != Some(k)).count() as u64;
        let phantom = found.iter().filter(|(id, k)| model.get(*id) != Some(k)).count() as u64;
        eprintln!("mismatch: {lost} acknowledged effects missing, {phantom} unexplained documents");
        (lost, phantom + damaged.len() as u64)
    };
    if c.len() != found.len() {
        eprintln!("len() says {}, {} documents found", c.len(), found.len());
        corrupt += 1;
    }
    let hits = c.search(&vector(0), 10)?;
    if hits.len() != found.len().min(10) {
        eprintln!("search found {} of {} documents", hits.len(), found.len().min(10));
        corrupt += 1;
    }
    Ok((lost, corrupt))
}
