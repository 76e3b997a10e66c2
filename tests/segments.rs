//! Flush to immutable segments: nothing is lost across flushes and reopens,
//! search spans segments and memtables, snapshots survive flushes, leftovers
//! of a crashed flush are cleaned, and damaged segment bytes give typed errors.

mod common;

use std::path::{Path, PathBuf};

use common::{brute_force, vector};
use vego::{
    CollectionConfig, Db, Distance, Document, Error, Filter, Options, Quantization, SearchOptions, SegmentIo, Value,
};

fn open(dir: &Path) -> Db {
    Db::open(dir, Options::default()).unwrap()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("segments")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn doc(i: u64, key: u64) -> Document {
    Document::new(format!("d{i}"), vector(key, 8)).with("key", key as i64).with("tag", format!("t{}", i % 5))
}

#[test]
fn flushes_updates_deletes_and_reopens_keep_every_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = std::collections::BTreeMap::new();
    {
        let db = open(dir.path());
        let c = db.create_collection("c", CollectionConfig::new(8)).unwrap();
        for round in 0..4u64 {
            c.insert_batch((round * 100..round * 100 + 100).map(|i| doc(i, i)).collect()).unwrap();
            model.extend((round * 100..round * 100 + 100).map(|i| (i, i)));
            for i in (0..round * 100).step_by(7) {
                c.upsert(doc(i, i + 10_000 * (round + 1))).unwrap();
                model.insert(i, i + 10_000 * (round + 1));
            }
            for i in (3..round * 100).step_by(11) {
                if model.remove(&i).is_some() {
                    assert!(c.delete(&format!("d{i}")).unwrap());
                }
            }
            c.flush().unwrap();
            // The fourth similar segment may be merged with the other three
            // in the background right away.
            let segments = c.stats().segments;
            assert!(segments == round + 1 || (round == 3 && segments == 1), "{segments} segments after {round}");
        }
        // Some writes stay in the memtable (and the WAL) at close.
        c.upsert(doc(1, 77)).unwrap();
        model.insert(1, 77);
        db.close().unwrap();
    }
    let db = open(dir.path());
    let c = db.collection("c").unwrap();
    assert_eq!(c.len(), model.len());
    assert_eq!(c.snapshot().len(), model.len());
    for i in 0..400u64 {
        let got = c.get(&format!("d{i}")).unwrap();
        match model.get(&i) {
            Some(&key) => {
                let d = got.unwrap_or_else(|| panic!("d{i} lost"));
                assert_eq!(d.vector, vector(key, 8));
                assert_eq!(d.metadata["key"], Value::Int(key as i64));
            }
            None => assert!(got.is_none(), "d{i} was deleted"),
        }
    }
    for (&i, &key) in model.iter().take(50) {
        let hits = c.search(&vector(key, 8), 3).unwrap();
        assert_eq!(hits[0].id, format!("d{i}"), "exact match across segments");
        let ids: std::collections::HashSet<_> = hits.iter().map(|h| &h.id).collect();
        assert_eq!(ids.len(), hits.len(), "one id, one hit");
    }
}

#[test]
fn search_across_segments_and_memtable_reaches_recall() {
    let (data, queries) = match common::minilm(8_000, 100) {
        Some(x) => x,
        None => (common::clustered(8_000, 64, 40, 3), common::clustered(100, 64, 40, 4)),
    };
    recall_across_three_segments_and_a_memtable(&data, &queries, 2_000);
}

/// Layers this large are searched side by side (see `read/search.rs`):
/// the hits must be the same as one after another would give.
#[test]
fn search_across_large_segments_in_parallel_reaches_recall() {
    let (data, queries) = (common::embedding_like(80_000, 32, 5), common::embedding_like(50, 32, 6));
    recall_across_three_segments_and_a_memtable(&data, &queries, 20_000);
}

/// Four chunks of `chunk` rows: three flushed to segments, one left in the
/// memtable; recall@10 against brute force, unfiltered and at 1, 10, 50 %.
fn recall_across_three_segments_and_a_memtable(data: &[Vec<f32>], queries: &[Vec<f32>], chunk: usize) {
    let dim = data[0].len();
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let c = db.create_collection("r", CollectionConfig::new(dim).distance(Distance::Cosine)).unwrap();
    for (b, rows) in data.chunks(chunk).enumerate() {
        c.insert_batch(
            rows.iter()
                .enumerate()
                .map(|(j, v)| {
                    Document::new((b * chunk + j).to_string(), v.clone()).with("b", ((b * chunk + j) % 100) as i64)
                })
                .collect(),
        )
        .unwrap();
        if b < 3 {
            c.flush().unwrap();
        }
    }
    assert_eq!(c.stats().segments, 3, "three segments plus a memtable");
    for pct in [None, Some(1i64), Some(10), Some(50)] {
        let mut found = 0;
        let matching: Vec<usize> = (0..data.len()).filter(|i| pct.is_none_or(|p| ((i % 100) as i64) < p)).collect();
        let subset: Vec<Vec<f32>> = matching.iter().map(|&i| data[i].clone()).collect();
        let mut opts = SearchOptions::new(10);
        if let Some(p) = pct {
            opts = opts.filter(Filter::lt("b", p));
        }
        let batch = c.snapshot().search_batch(queries, &opts).unwrap();
        for (q, batch_hits) in queries.iter().zip(&batch) {
            let truth: Vec<usize> =
                brute_force(&subset, q, 10, Distance::Cosine).into_iter().map(|j| matching[j]).collect();
            let hits = c.search_with(q, &opts).unwrap();
            assert_eq!(hits.len(), 10);
            let ids = |h: &[vego::Hit]| h.iter().map(|h| h.id.clone()).collect::<Vec<_>>();
            assert_eq!(ids(&hits), ids(batch_hits), "a batch answers each query as a single search does");
            found += hits.iter().filter(|h| truth.contains(&h.id.parse().unwrap())).count();
        }
        let recall = found as f64 / (10 * queries.len()) as f64;
        eprintln!("filter {pct:?}: recall@10 = {recall:.4}");
        assert!(recall >= 0.95, "filter {pct:?}: recall@10 = {recall}");
    }
}

#[test]
fn snapshot_taken_before_a_flush_keeps_its_versions() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let c = db.create_collection("s", CollectionConfig::new(8)).unwrap();
    c.insert(doc(1, 1)).unwrap();
    c.flush().unwrap();
    c.update(doc(1, 2)).unwrap();
    let snap = c.snapshot();
    c.update(doc(1, 3)).unwrap(); // superseded within the same memtable
    c.delete("d1").unwrap();
    c.insert(doc(2, 5)).unwrap();
    c.flush().unwrap();
    assert_eq!(snap.get("d1").unwrap().unwrap().vector, vector(2, 8));
    assert!(snap.get("d2").unwrap().is_none());
    assert_eq!(snap.len(), 1);
    assert_eq!(snap.search(&vector(2, 8), 5).unwrap()[0].id, "d1");
    assert!(c.get("d1").unwrap().is_none());
    assert_eq!(c.snapshot().len(), 1);
}

#[test]
fn memtable_over_its_size_is_flushed_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let c = db.create_collection("auto", CollectionConfig::new(64).memtable_bytes(1 << 20)).unwrap();
    for b in 0..12u64 {
        c.insert_batch((b * 500..b * 500 + 500).map(|i| Document::new(i.to_string(), vector(i, 64))).collect())
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.stats().segments == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(c.stats().segments >= 1, "a 1 MiB memtable holding 1.5 MiB must have been flushed");
    assert_eq!(c.len(), 6_000);
    for i in (0..6_000u64).step_by(97) {
        assert_eq!(c.get(&i.to_string()).unwrap().unwrap().vector, vector(i, 64));
    }
    drop(c);
    db.close().unwrap();
    let wal_files = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert_eq!(wal_files, 1, "close flushed everything and the checkpoint removed covered logs");
}

#[test]
fn leftovers_of_a_crashed_flush_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path());
        let c = db.create_collection("c", CollectionConfig::new(8)).unwrap();
        c.insert(doc(1, 1)).unwrap();
        db.close().unwrap();
    }
    let real = segment_files(dir.path());
    assert_eq!(real.len(), 1);
    let seg = dir.path().join("segments");
    std::fs::write(seg.join("00000000000000000099.vseg.tmp"), b"half a segment").unwrap();
    std::fs::copy(&real[0], seg.join("00000000000000000098.vseg")).unwrap(); // written, never recorded
    let db = open(dir.path());
    assert_eq!(segment_files(dir.path()), real);
    assert_eq!(db.collection("c").unwrap().get("d1").unwrap().unwrap().vector, vector(1, 8));
}

#[test]
fn dropped_collection_files_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let c = db.create_collection("gone", CollectionConfig::new(8)).unwrap();
    c.insert(doc(1, 1)).unwrap();
    c.flush().unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1);
    db.drop_collection("gone").unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1, "the handle still reads it");
    drop(c);
    assert!(segment_files(dir.path()).is_empty());
}

/// Byte ranges of each section, read from the segment's section table.
fn sections(path: &Path) -> Vec<(String, u64, u64)> {
    let bytes = std::fs::read(path).unwrap();
    let end = bytes.len();
    let table_offset = u64::from_le_bytes(bytes[end - 24..end - 16].try_into().unwrap()) as usize;
    let mut at = table_offset;
    let n = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    at += 4;
    let mut out = Vec::new();
    for _ in 0..n {
        let len = u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap()) as usize;
        let name = String::from_utf8(bytes[at + 2..at + 2 + len].to_vec()).unwrap();
        at += 2 + len;
        let off = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let slen = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap());
        at += 20;
        out.push((name, off, slen));
    }
    out
}

#[test]
fn a_flipped_byte_in_any_part_of_a_segment_is_a_typed_error() {
    let pristine = tempfile::tempdir().unwrap();
    {
        let db = open(pristine.path());
        // Quantized, so the file also has the optional graph.records section.
        let cfg = CollectionConfig::new(8).distance(Distance::Cosine).quantization(Quantization::Int8);
        let c = db.create_collection("c", cfg).unwrap();
        c.insert_batch((1..50u64).map(|i| doc(i, i)).collect()).unwrap();
        c.delete("d7").unwrap();
        db.close().unwrap();
    }
    let file = segment_files(pristine.path()).remove(0);
    let len = std::fs::metadata(&file).unwrap().len();
    let mut places: Vec<(String, u64)> = sections(&file).into_iter().map(|(n, off, l)| (n, off + l / 2)).collect();
    assert!(places.iter().any(|(n, _)| n == "graph.records"), "{places:?}");
    places.push(("header".into(), 20));
    places.push(("section table".into(), len - 40));
    places.push(("trailer".into(), len - 4));
    let backends =
        [SegmentIo::Mmap, SegmentIo::Pread { cache_bytes: 1 << 20 }, SegmentIo::Uring { cache_bytes: 1 << 20 }];
    for ((what, at), io) in places.into_iter().flat_map(|p| backends.map(|io| (p.clone(), io))) {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["", "segments", "wal"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            for e in std::fs::read_dir(pristine.path().join(sub)).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_file() {
                    std::fs::copy(e.path(), dir.path().join(sub).join(e.file_name())).unwrap();
                }
            }
        }
        let target = dir.path().join("segments").join(file.file_name().unwrap());
        let mut bytes = std::fs::read(&target).unwrap();
        bytes[at as usize] ^= 0x10;
        std::fs::write(&target, bytes).unwrap();
        let outcome = Db::open(dir.path(), Options::default().segment_io(io)).and_then(|db| {
            let c = db.collection("c")?;
            for i in 1..50u64 {
                c.get(&format!("d{i}"))?;
            }
            c.search(&vector(3, 8), 10)?;
            c.search_with(&vector(3, 8), &SearchOptions::new(5).filter(Filter::eq("tag", "t1")))?;
            Ok(())
        });
        match outcome {
            Err(Error::Corruption { file: f, .. }) => assert_eq!(f, target, "{what}: error names the file"),
            Err(Error::IncompatibleFormat { .. }) if what == "header" => {}
            other => panic!("{what} (byte {at}, {io:?}): expected Corruption, got {other:?}"),
        }
    }
}

#[test]
fn filtered_search_in_a_large_segment_reaches_recall_at_1_10_and_50_percent() {
    let dir = tempfile::tempdir().unwrap();
    // 50k rows: 10 % (5,000) and 50 % match more rows than the exact-scan
    // threshold (4,096 and 5 %), so they walk the graph; 1 % scans exactly.
    let n = 50_000u64;
    {
        let db = open(dir.path());
        let c = db.create_collection("big", CollectionConfig::new(8)).unwrap();
        for b in 0..n / 5_000 {
            c.insert_batch(
                (b * 5_000..(b + 1) * 5_000)
                    .map(|i| Document::new(i.to_string(), vector(i, 8)).with("bucket", (i % 100) as i64))
                    .collect(),
            )
            .unwrap();
        }
        db.close().unwrap();
    }
    let db = open(dir.path());
    let c = db.collection("big").unwrap();
    assert_eq!(c.stats().segments, 1);
    let data: Vec<Vec<f32>> = (0..n).map(|i| vector(i, 8)).collect();
    for (f, keep) in [(Filter::lt("bucket", 10), 10u64), (Filter::lt("bucket", 50), 50), (Filter::eq("bucket", 7), 0)] {
        let matching: Vec<usize> =
            (0..n).filter(|i| if keep == 0 { i % 100 == 7 } else { i % 100 < keep }).map(|i| i as usize).collect();
        let subset: Vec<Vec<f32>> = matching.iter().map(|&i| data[i].clone()).collect();
        let mut found = 0;
        for q in 0..50u64 {
            let query = vector(q + 50_000, 8);
            let hits = c.search_with(&query, &SearchOptions::new(10).filter(f.clone())).unwrap();
            assert_eq!(hits.len(), 10, "{f:?}");
            assert!(hits.iter().all(|h| f.matches(&h.document.as_ref().unwrap().metadata)));
            let truth: Vec<usize> =
                brute_force(&subset, &query, 10, Distance::L2).into_iter().map(|j| matching[j]).collect();
            found += hits.iter().filter(|h| truth.contains(&h.id.parse().unwrap())).count();
        }
        let recall = found as f64 / 500.0;
        eprintln!("{f:?}: recall@10 = {recall:.4}");
        assert!(recall >= 0.95, "{f:?}: recall@10 = {recall}");
    }
}

#[test]
fn every_io_backend_returns_the_same_documents_and_hits() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path());
        let c = db.create_collection("c", CollectionConfig::new(8)).unwrap();
        c.insert_batch((0..3_000u64).map(|i| doc(i, i).with("title", format!("title {i}"))).collect()).unwrap();
        db.close().unwrap();
    }
    let read_all = |io: SegmentIo| {
        let db = Db::open(dir.path(), Options::default().segment_io(io)).unwrap();
        let c = db.collection("c").unwrap();
        assert_eq!(c.stats().segments, 1, "reads come from the segment");
        let docs: Vec<_> = (0..3_000u64).map(|i| c.get(&format!("d{i}")).unwrap().unwrap()).collect();
        let hits = c.search_with(&vector(5, 8), &SearchOptions::new(10).filter(Filter::lt("key", 1_500))).unwrap();
        db.close().unwrap();
        (docs, hits)
    };
    let mapped = read_all(SegmentIo::Mmap);
    assert_eq!(read_all(SegmentIo::Pread { cache_bytes: 1 << 16 }), mapped);
    let uring = SegmentIo::Uring { cache_bytes: 1 << 16 };
    assert_eq!(read_all(uring), mapped);
    println!("io_uring in use: {}", uring.uses_io_uring());
}

/// Issue 15, "one copy of each vector on disk": a cosine collection's
/// segments hold each vector once (as written, plus a factor per row), and
/// through flush, a merge that reuses the old graph, and a reopen, `get`
/// returns every vector bit for bit while search stays exact on the unit
/// vectors.
#[test]
fn cosine_segments_keep_one_copy_and_return_vectors_bit_for_bit() {
    let (n, dim) = (3_000, 64);
    let dir = tempfile::tempdir().unwrap();
    // Norms over twelve orders of magnitude: a unit vector times its norm
    // would not give these back exactly.
    let doc = |i: usize| {
        let v: Vec<f32> = vector(i as u64 + 1, dim).iter().map(|x| x * 10f32.powi(i as i32 % 13 - 6)).collect();
        Document::new(format!("d{i:05}"), v)
    };
    fn segment_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| match p.is_dir() {
                true => segment_bytes(&p),
                false if p.extension().is_some_and(|x| x == "vseg") => p.metadata().unwrap().len(),
                false => 0,
            })
            .sum()
    }
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let c = db.create_collection("c", CollectionConfig::new(dim).distance(Distance::Cosine)).unwrap();
        c.insert_batch((0..n).map(doc).collect()).unwrap();
        c.flush().unwrap();
        let gone: Vec<String> = (0..n).step_by(10).map(|i| format!("d{i:05}")).collect();
        c.delete_batch(&gone.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        c.insert_batch((n..n + 300).map(doc).collect()).unwrap();
        c.flush().unwrap();
        let stats = c.compact().unwrap();
        assert_eq!(stats.segments_out, 1);
        db.close().unwrap();
    }
    let live: Vec<usize> = (0..n + 300).filter(|i| i % 10 != 0 || *i >= n).collect();
    let vector_bytes = (live.len() * dim * 4) as u64;
    let on_disk = segment_bytes(dir.path());
    // Graph lists (33 slots of 4 bytes a row), ids and their index are the rest.
    assert!(
        on_disk > vector_bytes && on_disk < vector_bytes + live.len() as u64 * 220,
        "{on_disk} bytes for {vector_bytes} of vectors"
    );
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for &i in &live {
        let got = c.get(&format!("d{i:05}")).unwrap().expect("a live document");
        assert_eq!(bits(&got.vector), bits(&doc(i).vector), "d{i:05}");
    }
    let vectors: Vec<Vec<f32>> = live.iter().map(|&i| doc(i).vector).collect();
    for q in live.iter().step_by(97).map(|&i| doc(i).vector) {
        let hits = c.search_with(&q, &SearchOptions::new(10).exact(true)).unwrap();
        let truth: Vec<String> =
            brute_force(&vectors, &q, 10, Distance::Cosine).into_iter().map(|j| format!("d{:05}", live[j])).collect();
        assert_eq!(hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>(), truth);
    }
}
