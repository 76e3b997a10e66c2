//! One document id's version chain.

use smallvec::SmallVec;

/// One version: a put (with its row) or a tombstone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    pub seq: u64,
    /// `None` = deleted.
    pub row: Option<u32>,
}

/// Versions ordered by seq, oldest first. Most ids have one or two.
#[derive(Default)]
pub(crate) struct Chain {
    versions: SmallVec<[Version; 2]>,
}

impl Chain {
    pub fn push(&mut self, v: Version) {
        if let Some(last) = self.versions.last() {
            assert!(v.seq > last.seq, "version chain out of order: {} after {}", v.seq, last.seq);
        }
        self.versions.push(v);
    }

    pub fn newest(&self) -> Option<Version> {
        self.versions.last().copied()
    }

    /// True if a version of this chain lives in `row`.
    pub fn holds_row(&self, row: u32) -> bool {
        self.versions.iter().any(|v| v.row == Some(row))
    }

    /// The newest version with `seq <= s`.
    pub fn visible_at(&self, s: u64) -> Option<Version> {
        self.versions.iter().rev().find(|v| v.seq <= s).copied()
    }

    /// Removes the version at `seq`; returns it with its neighbours.
    pub fn remove(&mut self, seq: u64) -> Option<(Version, Option<Version>, Option<Version>)> {
        let i = self.versions.iter().position(|v| v.seq == seq)?;
        let removed = self.versions.remove(i);
        let prev = i.checked_sub(1).map(|p| self.versions[p]);
        let next = self.versions.get(i).copied();
        Some((removed, prev, next))
    }
}
