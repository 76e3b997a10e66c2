//! Latency histograms per collection and operation, and the Prometheus text
//! exposition of every counter (`Db::metrics_text`).
//!
//! A histogram has fixed power-of-two buckets in microseconds, so recording
//! is three relaxed atomic adds and no lock: cheap enough for every get and
//! search (a search takes tens of microseconds; this takes nanoseconds).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::model::stats::{CollectionStats, DbStats};

/// Buckets: bucket `i` counts durations below `2^i` µs, for `i` in
/// `0..BUCKETS - 1`; the last counts everything longer (≥ 2^26 µs ≈ 67 s).
const BUCKETS: usize = 28;

/// A latency histogram with power-of-two microsecond buckets.
pub(crate) struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// The bucket of a duration of `us` whole microseconds.
fn bucket_of(us: u64) -> usize {
    // < 1 µs → 0; [2^(i-1), 2^i) µs → i.
    ((u64::BITS - us.leading_zeros()) as usize).min(BUCKETS - 1)
}

/// Upper bound of bucket `i` in microseconds (`None` for the last, +Inf).
fn bucket_bound_us(i: usize) -> Option<u64> {
    (i < BUCKETS - 1).then(|| 1u64 << i)
}

impl Histogram {
    /// Counts one operation that took `d`.
    pub(crate) fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(ns / 1_000)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Runs `f` and records how long it took.
    pub(crate) fn time<T>(&self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.record(start.elapsed());
        out
    }

    /// A summary: count, mean and bucket-resolution quantiles.
    pub(crate) fn summary(&self) -> LatencyStats {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let count: u64 = counts.iter().sum();
        let sum_ns = self.sum_ns.load(Ordering::Relaxed);
        let quantile = |q: f64| -> f64 {
            if count == 0 {
                return 0.0;
            }
            let rank = (q * count as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    // The bucket's upper bound: "at most this long".
                    return bucket_bound_us(i).map_or(f64::INFINITY, |b| b as f64);
                }
            }
            f64::INFINITY
        };
        LatencyStats {
            count,
            mean_us: if count == 0 { 0.0 } else { sum_ns as f64 / count as f64 / 1_000.0 },
            p50_us: quantile(0.50),
            p99_us: quantile(0.99),
        }
    }

    /// Appends the Prometheus histogram series of this histogram.
    fn write_prometheus(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            let le = bucket_bound_us(i).map_or("+Inf".to_string(), |us| format!("{}", us as f64 / 1e6));
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let sum_s = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum_s}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// Latency of one kind of operation since the database was opened.
/// Quantiles have bucket resolution: each is the upper bound of the
/// power-of-two microsecond bucket it falls in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Operations recorded.
    pub count: u64,
    /// Mean latency in microseconds.
    pub mean_us: f64,
    /// Median, in microseconds (bucket upper bound).
    pub p50_us: f64,
    /// 99th percentile, in microseconds (bucket upper bound).
    pub p99_us: f64,
}

/// The latency histograms of one collection.
#[derive(Default)]
pub(crate) struct CollectionMetrics {
    /// insert, insert_batch, update, upsert, delete and their `_if` forms
    /// (one per call, however many documents).
    pub write: Histogram,
    /// get and get_batch (one per call).
    pub get: Histogram,
    /// search and search_with (one per query; search_batch counts each query).
    pub search: Histogram,
}

impl CollectionMetrics {
    /// Appends this collection's histograms.
    pub(crate) fn write_prometheus(&self, out: &mut String, collection: &str) {
        let name = escape_label(collection);
        for (op, h) in [("write", &self.write), ("get", &self.get), ("search", &self.search)] {
            h.write_prometheus(out, "vego_operation_seconds", &format!("collection=\"{name}\",op=\"{op}\""));
        }
    }
}

/// The whole exposition: gauges per collection, database counters, then the
/// latency histograms of each collection.
pub(crate) fn render(stats: &DbStats, histograms: &[(&str, &CollectionMetrics)]) -> String {
    let mut out = String::new();
    type Field = fn(&CollectionStats) -> u64;
    let gauges: [(&str, &str, Field); 7] = [
        ("vego_documents", "Live documents.", |c| c.documents),
        ("vego_versions", "Stored document versions (live, superseded and deleted).", |c| c.versions),
        ("vego_dead_versions", "Versions no longer live, awaiting flush or compaction.", |c| c.dead),
        ("vego_segments", "Segment files.", |c| c.segments),
        ("vego_disk_bytes", "Bytes of segment files.", |c| c.disk_bytes),
        ("vego_memtable_bytes", "Approximate bytes of documents in memtables.", |c| c.memtable_bytes),
        ("vego_index_bytes", "Approximate bytes of in-memory HNSW graphs.", |c| c.index_bytes),
    ];
    for (name, help, field) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for c in &stats.collections {
            let _ = writeln!(out, "{name}{{collection=\"{}\"}} {}", escape_label(&c.name), field(c));
        }
    }
    let io = &stats.io;
    let counters: [(&str, &str, u64); 9] = [
        ("vego_wal_records_total", "WAL records written.", io.wal_records),
        ("vego_wal_writes_total", "WAL writes (group commits).", io.wal_writes),
        ("vego_wal_fsyncs_total", "fsyncs of WAL files.", io.wal_fsyncs),
        ("vego_wal_written_bytes_total", "Bytes written to the WAL.", io.wal_bytes_written),
        ("vego_segment_written_bytes_total", "Bytes of segment files written.", io.segment_bytes_written),
        ("vego_block_cache_hits_total", "Block-cache hits.", io.block_cache_hits),
        ("vego_block_cache_misses_total", "Block-cache misses.", io.block_cache_misses),
        ("vego_page_cache_hits_total", "Decoded metadata page cache hits.", io.page_cache_hits),
        ("vego_page_cache_misses_total", "Decoded metadata page cache misses.", io.page_cache_misses),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    }
    let _ = writeln!(out, "# HELP vego_wal_disk_bytes Bytes of WAL files on disk.\n# TYPE vego_wal_disk_bytes gauge");
    let _ = writeln!(out, "vego_wal_disk_bytes {}", stats.wal_bytes);
    let _ = writeln!(
        out,
        "# HELP vego_operation_seconds Latency of writes, gets and searches.\n# TYPE vego_operation_seconds histogram"
    );
    for (name, m) in histograms {
        m.write_prometheus(&mut out, name);
    }
    out
}

/// A label value with `\`, `"` and newlines escaped as the format requires.
pub(crate) fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_at_powers_of_two_microseconds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(2), 2);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(1_000), 10);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_the_bounds_of_the_buckets_they_fall_in() {
        let h = Histogram::default();
        for _ in 0..98 {
            h.record(Duration::from_micros(10)); // bucket [8, 16)
        }
        h.record(Duration::from_micros(3_000)); // [2048, 4096)
        h.record(Duration::from_secs(100)); // overflow bucket
        let s = h.summary();
        assert_eq!(s.count, 100);
        assert_eq!(s.p50_us, 16.0);
        assert_eq!(s.p99_us, 4096.0);
        assert!((s.mean_us - (98.0 * 10.0 + 3_000.0 + 100e6) / 100.0).abs() < 1.0);
        assert_eq!(Histogram::default().summary(), LatencyStats::default());
    }

    #[test]
    fn prometheus_buckets_are_cumulative_and_end_with_the_count() {
        let h = Histogram::default();
        h.record(Duration::from_micros(5));
        h.record(Duration::from_micros(500));
        let mut out = String::new();
        h.write_prometheus(&mut out, "x", "op=\"get\"");
        assert!(out.contains("x_bucket{op=\"get\",le=\"0.000008\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{op=\"get\",le=\"+Inf\"} 2\n"), "{out}");
        assert!(out.contains("x_count{op=\"get\"} 2\n"), "{out}");
        assert_eq!(escape_label("a\"b\\c"), "a\\\"b\\\\c");
    }
}
