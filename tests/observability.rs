//! Statistics, latency histograms, the Prometheus exposition and progress
//! reports describe what actually happened.

mod common;

use std::sync::Arc;

use parking_lot::Mutex;
use vego::{Db, Document, Options, Progress, Task};

fn doc(i: u64) -> Document {
    Document::new(format!("d{i}"), common::vector(i, 8)).with("title", format!("title {i}"))
}

#[test]
fn latency_histograms_count_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().dimension(8)).unwrap();
    let c = db.collection("c").unwrap();
    for i in 0..20 {
        c.insert(doc(i)).unwrap();
    }
    c.insert_batch((20..120).map(doc).collect()).unwrap();
    c.upsert(doc(3)).unwrap();
    c.delete("d4").unwrap();
    for i in 0..30 {
        c.get(&format!("d{i}")).unwrap();
    }
    c.get_batch(&["d1", "d2"]).unwrap();
    for i in 0..7 {
        c.search(&common::vector(1000 + i, 8), 5).unwrap();
    }
    c.search_batch(&[common::vector(1, 8), common::vector(2, 8)], 5).unwrap();
    let s = c.stats();
    assert_eq!(s.write_latency.count, 20 + 1 + 1 + 1);
    assert_eq!(s.get_latency.count, 31);
    assert_eq!(s.search_latency.count, 9);
    for l in [s.write_latency, s.get_latency, s.search_latency] {
        assert!(l.mean_us > 0.0 && l.p50_us >= 1.0 && l.p99_us >= l.p50_us, "{l:?}");
    }
    // Failed calls are timed too: they are part of what callers wait for.
    assert!(c.insert(doc(5)).is_err());
    assert_eq!(c.stats().write_latency.count, 24);
}

#[test]
fn io_counters_follow_writes_flushes_and_cache_use() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().dimension(8)).unwrap();
    let c = db.collection("c").unwrap();
    for i in 0..10 {
        c.insert(doc(i)).unwrap();
    }
    let io = db.stats().io;
    assert_eq!(io.wal_records, 10, "one record per write (collections live in the manifest)");
    assert!(io.wal_fsyncs >= 10, "Sync durability fsyncs every acknowledged write: {io:?}");
    assert!(io.wal_bytes_written > 10 * 8 * 4);
    assert_eq!(io.segment_bytes_written, 0);
    c.flush().unwrap();
    assert_eq!(db.stats().io.segment_bytes_written, c.stats().disk_bytes);
    for _ in 0..3 {
        c.get("d1").unwrap();
    }
    let io = db.stats().io;
    assert!(io.page_cache_misses >= 1 && io.page_cache_hits >= 2, "{io:?}");
    assert!(io.page_cache_hit_rate() > 0.0 && io.page_cache_hit_rate() < 1.0);
}

#[test]
fn metrics_text_is_valid_exposition_matching_the_stats() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().dimension(8)).unwrap();
    let c = db.collection("my-coll_1").unwrap();
    c.insert_batch((0..50).map(doc).collect()).unwrap();
    c.delete("d1").unwrap();
    for i in 0..3 {
        c.search(&common::vector(i, 8), 3).unwrap();
    }
    let text = db.metrics_text();
    assert!(text.contains("vego_documents{collection=\"my-coll_1\"} 49\n"), "{text}");
    assert!(text.contains("vego_operation_seconds_count{collection=\"my-coll_1\",op=\"search\"} 3\n"));
    assert!(text.contains("vego_operation_seconds_count{collection=\"my-coll_1\",op=\"write\"} 2\n"));
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["gauge", "counter", "histogram"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_string()), "one TYPE per metric: {line}");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "numeric value: {line}");
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(typed.contains(name) || typed.contains(family), "sample after its TYPE: {line}");
    }
    // Bucket counts are cumulative.
    let buckets: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("vego_operation_seconds_bucket{collection=\"my-coll_1\",op=\"search\""))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]) && *buckets.last().unwrap() == 3, "{buckets:?}");
}

#[test]
fn progress_reports_large_batches_flushes_and_compactions() {
    let reports: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = reports.clone();
    let opts = Options::default().dimension(8).progress(move |p| sink.lock().push(p.clone()));
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts).unwrap();
    let c = db.collection("c").unwrap();
    c.insert_batch((0..100).map(doc).collect()).unwrap();
    assert!(reports.lock().is_empty(), "small batches report nothing");
    c.insert_batch((100..3100).map(doc).collect()).unwrap();
    c.delete("d7").unwrap();
    c.flush().unwrap();
    c.upsert(doc(8)).unwrap();
    c.flush().unwrap();
    c.compact().unwrap();
    let reports = reports.lock().clone();
    for task in [Task::InsertBatch, Task::Flush, Task::Compaction] {
        let mine: Vec<&Progress> = reports.iter().filter(|p| p.task == task).collect();
        assert!(!mine.is_empty(), "{task:?} reported");
        assert!(mine.iter().all(|p| p.collection == "c" && p.done <= p.total));
        assert!(mine.iter().any(|p| p.done == p.total), "{task:?} reports its end");
    }
    let batch: Vec<u64> = reports.iter().filter(|p| p.task == Task::InsertBatch).map(|p| p.done).collect();
    assert_eq!(batch, vec![1024, 2048, 3000]);
}
