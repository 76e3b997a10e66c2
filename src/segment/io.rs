//! How segment bytes reach memory: two backends behind one type.
//!
//! * `Mmap` — the file is mapped; every section is used in place and the
//!   kernel's page cache decides what stays in memory.
//! * `Pread` — the sections search needs on every query (ids, seqs, vectors,
//!   id index, graph) are read into aligned heap buffers at open; everything
//!   else (metadata columns, raw vectors) is read on demand with `pread`
//!   through a shared user-space LRU cache of fixed-size blocks.
//! * `Uring` — as `Pread`, but cache misses are read through io_uring (Linux;
//!   a thread whose kernel refuses io_uring falls back to `pread`).
//!
//! `docs/TUNING.md` has the measured comparison; mmap is the default.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::num::NonZeroUsize;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lru::LruCache;
use memmap2::Mmap;
use parking_lot::Mutex;

use super::format::{self, corrupt, SectionEntry, HEADER_BYTES, TRAILER_BYTES};
use crate::model::error::io_err;
use crate::{Result, Value};

pub use crate::model::options::SegmentIo;

// The backend choice is vocabulary (`model::options`); whether it reaches
// io_uring on this machine is the reader's business.
impl SegmentIo {
    /// True if block reads of this backend go through io_uring on this
    /// thread (false for `Mmap` and `Pread`, and where the kernel refuses it).
    pub fn uses_io_uring(&self) -> bool {
        matches!(self, SegmentIo::Uring { .. }) && ring_available()
    }
}

#[cfg(target_os = "linux")]
fn ring_available() -> bool {
    super::uring::available()
}

#[cfg(not(target_os = "linux"))]
fn ring_available() -> bool {
    false
}

/// How block-cache misses reach the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockRead {
    Pread,
    Uring,
}

impl BlockRead {
    fn read_exact_at(self, file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            BlockRead::Uring => super::uring::read_exact_at(file, buf, offset),
            _ => file.read_exact_at(buf, offset),
        }
    }
}

/// Size of one cache block.
pub(crate) const BLOCK_BYTES: u64 = 64 << 10;

/// Blocks by (segment uid, block index).
type Blocks = LruCache<(u64, u64), Arc<[u8]>>;

/// The database-wide block cache of the `Pread` backend.
pub(crate) struct BlockCache {
    blocks: Mutex<Blocks>,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

impl BlockCache {
    pub fn new(cache_bytes: u64) -> BlockCache {
        let n = NonZeroUsize::new((cache_bytes / BLOCK_BYTES).max(1) as usize).expect("at least one block");
        BlockCache { blocks: Mutex::new(LruCache::new(n)), hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    fn block(&self, via: BlockRead, file: &File, uid: u64, file_len: u64, index: u64) -> std::io::Result<Arc<[u8]>> {
        if let Some(b) = self.blocks.lock().get(&(uid, index)) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(b.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let start = index * BLOCK_BYTES;
        let mut buf = vec![0u8; (file_len - start).min(BLOCK_BYTES) as usize];
        via.read_exact_at(file, &mut buf, start)?;
        let block: Arc<[u8]> = buf.into();
        self.blocks.lock().put((uid, index), block.clone());
        Ok(block)
    }
}

/// Decoded metadata pages by (segment uid, column, page index).
type Pages = LruCache<(u64, Arc<str>, u32), Arc<Vec<Option<Value>>>>;

/// Decoded column pages shared by every segment of a database: point reads
/// and filters then decode a compressed page once, not once per row.
pub(crate) struct PageCache {
    pages: Mutex<Pages>,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

/// Decoded pages kept per database.
pub(crate) const DECODED_PAGES_MAX: usize = 2_048;

impl PageCache {
    fn new() -> PageCache {
        PageCache {
            pages: Mutex::new(LruCache::new(NonZeroUsize::new(DECODED_PAGES_MAX).expect("non-zero"))),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The decoded page, decoding it with `decode` on a miss.
    pub fn get_or_decode(
        &self,
        key: (u64, Arc<str>, u32),
        decode: impl FnOnce() -> Result<Vec<Option<Value>>>,
    ) -> Result<Arc<Vec<Option<Value>>>> {
        if let Some(p) = self.pages.lock().get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(p.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let page = Arc::new(decode()?);
        self.pages.lock().put(key, page.clone());
        Ok(page)
    }
}

/// Shared settings for opening segments.
#[derive(Clone)]
pub(crate) struct IoConfig {
    pub io: SegmentIo,
    pub cache: Arc<BlockCache>,
    pub pages: Arc<PageCache>,
    /// The file layer that writes and deletes segment files.
    pub fs: Arc<dyn vego_storage::Storage>,
}

impl IoConfig {
    pub fn new(io: SegmentIo) -> IoConfig {
        Self::with_storage(io, Arc::new(vego_storage::StdStorage))
    }

    pub fn with_storage(io: SegmentIo, fs: Arc<dyn vego_storage::Storage>) -> IoConfig {
        let bytes = match io {
            SegmentIo::Mmap => BLOCK_BYTES,
            SegmentIo::Pread { cache_bytes } | SegmentIo::Uring { cache_bytes } => cache_bytes,
        };
        IoConfig { io, cache: Arc::new(BlockCache::new(bytes)), pages: Arc::new(PageCache::new()), fs }
    }
}

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// A process-unique id for an open segment (cache keys).
pub(crate) fn next_uid() -> u64 {
    NEXT_UID.fetch_add(1, Ordering::Relaxed)
}

/// An open segment file's bytes.
pub(crate) enum Storage {
    Mapped(Mmap),
    Read { file: File, len: u64, uid: u64, hot: HashMap<String, Box<[u64]>>, cache: Arc<BlockCache>, via: BlockRead },
}

impl Storage {
    /// Opens `path`; returns the storage, its header bytes and section table.
    pub fn open(path: &Path, cfg: &IoConfig, hot: &[&str]) -> Result<(Storage, format::Header, Vec<SectionEntry>)> {
        let file = File::open(path).map_err(io_err(path))?;
        match cfg.io {
            SegmentIo::Mmap => {
                // SAFETY: segment files are immutable once renamed into place;
                // this process never writes them and the database lock keeps
                // other Vego processes out. (Another program truncating the
                // file would make accesses fault; no mmap-based store can
                // defend against that.)
                let map = unsafe { Mmap::map(&file) }.map_err(io_err(path))?;
                let header = format::decode_header(path, &map)?;
                let sections = format::decode_footer(path, &map)?;
                Ok((Storage::Mapped(map), header, sections))
            }
            SegmentIo::Pread { .. } | SegmentIo::Uring { .. } => {
                let via = if matches!(cfg.io, SegmentIo::Uring { .. }) { BlockRead::Uring } else { BlockRead::Pread };
                let len = file.metadata().map_err(io_err(path))?.len();
                if len < (HEADER_BYTES + TRAILER_BYTES) as u64 {
                    return Err(corrupt(path, 0, format!("file of {len} bytes is too short")));
                }
                let read = |off: u64, n: usize| -> Result<Vec<u8>> {
                    let mut buf = vec![0u8; n];
                    file.read_exact_at(&mut buf, off).map_err(io_err(path))?;
                    Ok(buf)
                };
                let mut head = read(0, HEADER_BYTES)?;
                head.extend(read(len - TRAILER_BYTES as u64, TRAILER_BYTES)?);
                let header = format::decode_header(path, &head)?;
                let table_offset = u64::from_le_bytes(head[HEADER_BYTES..HEADER_BYTES + 8].try_into().unwrap());
                let tail_start = table_offset.clamp(HEADER_BYTES as u64, len - TRAILER_BYTES as u64);
                let tail = read(tail_start, (len - tail_start) as usize)?;
                let sections = format::decode_footer_tail(path, len, &tail, tail_start)?;
                let mut loaded = HashMap::new();
                for s in sections.iter().filter(|s| hot.contains(&s.name.as_str()) || s.name.starts_with("graph.")) {
                    let mut words = vec![0u64; (s.len as usize).div_ceil(8)].into_boxed_slice();
                    let bytes = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..s.len as usize];
                    file.read_exact_at(bytes, s.offset).map_err(io_err(path))?;
                    loaded.insert(s.name.clone(), words);
                }
                let uid = next_uid();
                Ok((Storage::Read { file, len, uid, hot: loaded, cache: cfg.cache.clone(), via }, header, sections))
            }
        }
    }

    /// A section that is always resident (mapped, or loaded at open).
    pub fn resident(&self, s: &SectionEntry) -> Option<&[u8]> {
        match self {
            Storage::Mapped(map) => Some(&map[s.offset as usize..(s.offset + s.len) as usize]),
            Storage::Read { hot, .. } => {
                hot.get(&s.name).map(|w| &bytemuck::cast_slice::<u64, u8>(w)[..s.len as usize])
            }
        }
    }

    /// Bytes `offset .. offset + len` of the file (in place for mmap; through
    /// the block cache for pread).
    pub fn read(&self, path: &Path, offset: u64, len: u64) -> Result<Cow<'_, [u8]>> {
        match self {
            Storage::Mapped(map) => Ok(Cow::Borrowed(&map[offset as usize..(offset + len) as usize])),
            Storage::Read { file, len: file_len, uid, cache, via, .. } => {
                let mut out = Vec::with_capacity(len as usize);
                let end = offset + len;
                let mut at = offset;
                while at < end {
                    let index = at / BLOCK_BYTES;
                    let block = cache.block(*via, file, *uid, *file_len, index).map_err(io_err(path))?;
                    let from = (at - index * BLOCK_BYTES) as usize;
                    let to = ((end - index * BLOCK_BYTES) as usize).min(block.len());
                    out.extend_from_slice(&block[from..to]);
                    at = index * BLOCK_BYTES + to as u64;
                }
                Ok(Cow::Owned(out))
            }
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            Storage::Mapped(map) => map.len() as u64,
            Storage::Read { len, .. } => *len,
        }
    }
}
