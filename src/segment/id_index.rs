//! The id → entry hash index of a segment: open addressing with linear
//! probing over a power-of-two table of `u32` slots, each holding
//! `entry + 1` (0 = empty). Entries are document rows followed by
//! tombstones. At most half full, so a lookup probes ~1.5 slots on average.

use xxhash_rust::xxh3::xxh3_64;

/// Slots for `entries` entries (a power of two, at least twice as many).
pub(crate) fn capacity(entries: usize) -> usize {
    (entries * 2).next_power_of_two().max(2)
}

/// Builds the table; `ids[i]` is entry i's id (ids are distinct).
pub(crate) fn build<'a>(ids: impl ExactSizeIterator<Item = &'a str>) -> Vec<u32> {
    let n = ids.len();
    assert!(n < u32::MAX as usize, "segment entries exceed u32");
    let mut slots = vec![0u32; capacity(n)];
    let mask = slots.len() - 1;
    for (i, id) in ids.enumerate() {
        let mut s = xxh3_64(id.as_bytes()) as usize & mask;
        while slots[s] != 0 {
            s = (s + 1) & mask;
        }
        slots[s] = i as u32 + 1;
    }
    slots
}

/// Finds `id`; `id_of(entry)` returns the stored id of an entry (or `None`
/// if it cannot be read). Gives up after a full cycle, so a corrupt table
/// cannot loop forever.
pub(crate) fn lookup<'a>(slots: &[u32], id: &str, mut id_of: impl FnMut(u32) -> Option<&'a str>) -> Option<u32> {
    if slots.is_empty() || !slots.len().is_power_of_two() {
        return None;
    }
    let mask = slots.len() - 1;
    let mut s = xxh3_64(id.as_bytes()) as usize & mask;
    for _ in 0..slots.len() {
        match slots[s] {
            0 => return None,
            e => {
                if id_of(e - 1) == Some(id) {
                    return Some(e - 1);
                }
            }
        }
        s = (s + 1) & mask;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_id_is_found_and_absent_ids_are_not(ids in proptest::collection::btree_set("[a-z0-9]{1,12}", 0..300)) {
            let ids: Vec<String> = ids.into_iter().collect();
            let slots = build(ids.iter().map(String::as_str));
            for (i, id) in ids.iter().enumerate() {
                prop_assert_eq!(lookup(&slots, id, |e| ids.get(e as usize).map(String::as_str)), Some(i as u32));
            }
            prop_assert_eq!(lookup(&slots, "NOT-AN-ID", |e| ids.get(e as usize).map(String::as_str)), None);
        }
    }

    #[test]
    fn a_full_corrupt_table_terminates() {
        let slots = vec![1u32; 8];
        assert_eq!(lookup(&slots, "x", |_| Some("y")), None);
    }
}
