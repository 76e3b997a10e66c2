//! Installing a new segment version of a collection, the same way for a
//! flush and a merge: record the new file in the manifest (its edit is the
//! commit point), delete the file if the edit surely failed, then swap the
//! collection's layers under the write lock.

use std::path::Path;

use vego_manifest::{CollectionEntry, ManifestState};

use crate::engine::core::CollectionCore;
use crate::engine::layers::Layers;
use crate::engine::shared::DbShared;
use crate::Result;

/// Records segment `file_id` (written at `path`) in the manifest:
/// `collection` changes the collection's entry, `state` the rest of the
/// catalogue. `Ok(false)` if the collection was dropped meanwhile (the file
/// is deleted). On a failed edit the file is deleted unless the edit may
/// still reach the disk naming it (a failed rename or directory fsync);
/// open deletes it then if it does not.
pub(crate) fn record(
    db: &DbShared,
    core: &CollectionCore,
    file_id: u64,
    path: &Path,
    collection: impl Fn(&mut CollectionEntry),
    state: impl Fn(&mut ManifestState),
) -> Result<bool> {
    let edit = db.manifest.edit(|s| {
        let Some(c) = s.collections.get_mut(&core.name).filter(|c| c.id == core.id) else {
            return Err(vego_manifest::Error::Rejected("collection dropped".into()));
        };
        collection(c);
        state(s);
        s.next_file_id = s.next_file_id.max(file_id + 1);
        Ok(())
    });
    let Err(e) = edit else { return Ok(true) };
    if !db.manifest.last_edit_uncertain() {
        let _ = db.io.fs.remove_file(path);
    }
    match e {
        vego_manifest::Error::Rejected(_) => Ok(false),
        e => Err(e.into()),
    }
}

/// Replaces the collection's layers with `next(current)` under the write
/// lock, so no write, freeze or other install interleaves; `next` also
/// carries superseded marks onto the new segment under that lock.
pub(crate) fn swap_layers(db: &DbShared, core: &CollectionCore, next: impl FnOnce(&Layers) -> Layers) {
    let _w = db.write.lock();
    let t = core.layers.load_full();
    core.layers.store(std::sync::Arc::new(next(&t)));
}
