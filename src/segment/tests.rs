//! Round-trip and filter-evaluation properties of whole segment files.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::build::{self, RowIn, SegmentIn};
use super::filter_eval::{matching_rows, segment_may_match};
use super::format::{FORMAT_MAJOR, FORMAT_MAJOR_OLDEST};
use super::io::{IoConfig, SegmentIo};
use super::reader::Segment;
use super::writer::write_file_atomically;
use crate::hnsw::{Hnsw, HnswParams, Metric};
use crate::{Filter, Value};

type Row = (String, u64, Vec<f32>, BTreeMap<String, Value>);

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-50i64..50).prop_map(Value::Int),
        (-5.0f64..5.0).prop_map(Value::Float),
        "[a-d]{0,3}".prop_map(Value::Str),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        proptest::collection::vec((-5i64..5).prop_map(Value::Int), 0..3).prop_map(Value::List),
    ]
}

fn arb_rows() -> impl Strategy<Value = (Vec<Row>, Vec<(String, u64)>)> {
    let meta = proptest::collection::btree_map(
        prop_oneof![Just("a"), Just("b"), Just("c")].prop_map(String::from),
        arb_value(),
        0..3,
    );
    (proptest::collection::vec((proptest::collection::vec(-1.0f32..1.0, 4), meta), 0..60), 0usize..5).prop_map(
        |(rows, tombs)| {
            let rows: Vec<Row> =
                rows.into_iter().enumerate().map(|(i, (v, m))| (format!("id{i}"), i as u64 + 1, v, m)).collect();
            let tombs = (0..tombs).map(|t| (format!("gone{t}"), 1_000 + t as u64)).collect();
            (rows, tombs)
        },
    )
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    let field = prop_oneof![Just("a"), Just("b"), Just("c"), Just("zz")];
    let scalar = prop_oneof![
        (-50i64..50).prop_map(Value::Int),
        (-5.0f64..5.0).prop_map(Value::Float),
        "[a-d]{0,2}".prop_map(Value::Str)
    ];
    let leaf = prop_oneof![
        (field.clone(), scalar.clone()).prop_map(|(f, v)| Filter::eq(f, v)),
        (field.clone(), scalar.clone()).prop_map(|(f, v)| Filter::ne(f, v)),
        (field.clone(), scalar.clone()).prop_map(|(f, v)| Filter::gt(f, v)),
        (field.clone(), scalar.clone()).prop_map(|(f, v)| Filter::lte(f, v)),
        (field.clone(), proptest::collection::vec(scalar.clone(), 0..3)).prop_map(|(f, vs)| Filter::in_(f, vs)),
        (field.clone(), proptest::collection::vec(scalar.clone(), 0..3)).prop_map(|(f, vs)| Filter::match_any(f, vs)),
        (field.clone(), proptest::collection::vec(scalar, 0..3)).prop_map(|(f, vs)| Filter::match_except(f, vs)),
        field.prop_map(Filter::exists),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
            inner.prop_map(Filter::not),
        ]
    })
}

fn write(dir: &std::path::Path, rows: &[Row], tombs: &[(String, u64)], metric: Metric) -> Segment {
    write_with(dir, rows, tombs, metric, SegmentIo::Mmap)
}

fn write_with(dir: &std::path::Path, rows: &[Row], tombs: &[(String, u64)], metric: Metric, io: SegmentIo) -> Segment {
    let path = write_file(dir, rows, tombs, metric, FORMAT_MAJOR);
    Segment::open(&path, &IoConfig::new(io)).unwrap()
}

/// Writes a segment of `format_major` over `rows` (of any one dimension);
/// returns its path.
fn write_file(
    dir: &std::path::Path,
    rows: &[Row],
    tombs: &[(String, u64)],
    metric: Metric,
    format_major: u16,
) -> std::path::PathBuf {
    let dim = rows.first().map_or(4, |r| r.2.len());
    let graph = Hnsw::new(dim, metric, HnswParams { m: 4, ef_construction: 16, seed: 1, quantize: false });
    for (i, r) in rows.iter().enumerate() {
        let mut v = r.2.clone();
        if metric == Metric::Cosine {
            crate::hnsw::normalize(&mut v);
        }
        graph.insert_at(i as u32, &v);
    }
    let input = SegmentIn {
        dimension: dim as u32,
        metric: if metric == Metric::Cosine { 1 } else { 0 },
        rows: rows.iter().map(|r| RowIn { id: &r.0, seq: r.1, vector: &r.2, metadata: &r.3 }).collect(),
        tombstones: tombs.iter().map(|t| (t.0.as_str(), t.1)).collect(),
        graph: graph.to_flat().expect("all rows inserted"),
    };
    let path = dir.join(format!("{format_major:020}.vseg"));
    write_file_atomically(&vego_storage::StdStorage, &path, &build::encode_as(&input, format_major)).unwrap();
    path
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_segment_read_back_equals_its_input(
        (rows, tombs) in arb_rows(),
        cosine in any::<bool>(),
        backend in 0..3u8,
        major in FORMAT_MAJOR_OLDEST..=FORMAT_MAJOR,
    ) {
        let dir = tempfile::tempdir().unwrap();
        // Every backend; a tiny block cache makes pread / io_uring cross block boundaries and evict.
        let io = match backend {
            0 => SegmentIo::Mmap,
            1 => SegmentIo::Pread { cache_bytes: 1 },
            _ => SegmentIo::Uring { cache_bytes: 1 },
        };
        let metric = if cosine { Metric::Cosine } else { Metric::L2 };
        let seg = Segment::open(&write_file(dir.path(), &rows, &tombs, metric, major), &IoConfig::new(io)).unwrap();
        prop_assert_eq!(seg.rows() as usize, rows.len());
        for (i, r) in rows.iter().enumerate() {
            // Compared as the graph was built on, whichever copy is stored.
            let mut unit = r.2.clone();
            if cosine {
                crate::hnsw::normalize(&mut unit);
            }
            prop_assert_eq!(seg.compared_vector(i as u32).to_vec(), unit);
            let e = seg.find(&r.0).unwrap();
            prop_assert_eq!(e, i as u32);
            let d = seg.document(e, true, None).unwrap();
            prop_assert_eq!(&d.id, &r.0);
            prop_assert_eq!(d.version, r.1);
            prop_assert_eq!(&d.vector, &r.2);
            prop_assert_eq!(&d.metadata, &r.3);
        }
        for t in &tombs {
            let e = seg.find(&t.0).unwrap();
            prop_assert!(seg.is_tombstone(e));
            prop_assert_eq!(seg.seqs()[e as usize], t.1);
        }
        prop_assert!(seg.find("absent").is_none());
    }

    #[test]
    fn column_wise_filtering_equals_row_wise_filtering((rows, _) in arb_rows(), f in arb_filter()) {
        let dir = tempfile::tempdir().unwrap();
        let seg = write(dir.path(), &rows, &[], Metric::L2);
        let set = matching_rows(&seg, &f).unwrap();
        let expected: Vec<u32> = rows.iter().enumerate().filter(|(_, r)| f.matches(&r.3)).map(|(i, _)| i as u32).collect();
        prop_assert_eq!(set.rows().collect::<Vec<_>>(), expected.clone(), "{:?}", f);
        if !expected.is_empty() {
            prop_assert!(segment_may_match(&seg, &f).unwrap(), "pruning must never drop a match: {:?}", f);
        }
    }
}

#[test]
fn zone_maps_prune_a_segment_no_row_can_match() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Row> = (0..100)
        .map(|i| {
            (
                format!("id{i}"),
                i + 1,
                vec![i as f32, 0.0, 0.0, 1.0],
                BTreeMap::from([("year".to_string(), Value::Int(2000 + i as i64 % 20))]),
            )
        })
        .collect();
    let seg = write(dir.path(), &rows, &[], Metric::L2);
    assert!(!segment_may_match(&seg, &Filter::gt("year", 2030)).unwrap());
    assert!(!segment_may_match(&seg, &Filter::eq("missing", 1)).unwrap());
    assert!(!segment_may_match(&seg, &Filter::gte("year", 2025).and(Filter::exists("year"))).unwrap());
    assert!(segment_may_match(&seg, &Filter::eq("year", 2010)).unwrap());
    assert!(segment_may_match(&seg, &Filter::ne("year", 2010)).unwrap());
    assert!(segment_may_match(&seg, &Filter::gt("year", 2030).not()).unwrap());
}

#[test]
fn filters_over_many_pages_find_every_match() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Row> = (0..20_000u64)
        .map(|i| {
            let meta = BTreeMap::from([
                ("bucket".to_string(), Value::Int((i % 100) as i64)),
                ("title".to_string(), Value::Str(format!("document number {i} about topic {}", i % 37))),
            ]);
            (format!("id{i}"), i + 1, vec![i as f32, 0.0, 0.0, 1.0], meta)
        })
        .collect();
    let seg = write(dir.path(), &rows, &[], Metric::L2);
    for f in [Filter::lt("bucket", 10), Filter::eq("bucket", 7), Filter::exists("title")] {
        let expected = rows.iter().filter(|r| f.matches(&r.3)).count();
        assert!(segment_may_match(&seg, &f).unwrap(), "{f:?}");
        assert_eq!(matching_rows(&seg, &f).unwrap().count(), expected, "{f:?}");
    }
    for row in [0u32, 4_095, 4_096, 19_999] {
        assert_eq!(seg.metadata(row, None).unwrap(), rows[row as usize].3);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The dead-row count the compaction policy reads must equal the rows
    /// that are not current, whatever mix of supersessions and undos ran.
    #[test]
    fn dead_rows_counts_exactly_the_rows_that_are_not_current(
        ops in proptest::collection::vec((0u32..20, 1u64..50, any::<bool>()), 0..200),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<Row> =
            (0..20u64).map(|i| (format!("id{i}"), i + 1, vec![i as f32, 0.0, 0.0, 1.0], BTreeMap::new())).collect();
        let seg = write(dir.path(), &rows, &[], Metric::L2);
        for (row, seq, undo) in ops {
            if undo {
                // An undo moves the mark back (to current, or to a later seq).
                let to = if seq % 2 == 0 { u64::MAX } else { seq + 100 };
                seg.resupersede(row, seg.superseded_at(row), to);
            } else {
                seg.supersede(row, seq);
            }
            let not_current = (0..seg.rows()).filter(|&r| !seg.is_current(r)).count() as u64;
            prop_assert_eq!(seg.dead_rows(), not_current);
        }
    }
}

/// Rows of `dim` whose norms span 40 orders of magnitude, with a zero row:
/// a scale a unit vector times its norm would not give back bit for bit.
fn rows_of_every_scale(n: usize, dim: usize) -> Vec<Row> {
    let mut state = 7u64;
    (0..n)
        .map(|i| {
            let scale = 10f32.powi(i as i32 % 41 - 20);
            let v = (0..dim)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
                })
                .collect();
            let v = if i == 3 { vec![0.0; dim] } else { v };
            (format!("r{i:04}"), i as u64 + 1, v, BTreeMap::new())
        })
        .collect()
}

/// Issue 15 ("one copy of each vector on disk"): a cosine segment keeps
/// the vectors as written and one factor per row, not a second, normalised
/// copy; `get` returns them bit for bit; search ranks and scores as over
/// the unit vectors, and exactly as a format-1 file (two copies) does.
#[test]
fn a_cosine_segment_stores_each_vector_once_and_answers_as_two_copies_did() {
    let (n, dim) = (300, 48);
    let rows = rows_of_every_scale(n, dim);
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (
        write_file(dir.path(), &rows, &[], Metric::Cosine, FORMAT_MAJOR),
        write_file(dir.path(), &rows, &[], Metric::Cosine, 1),
    );
    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len() as usize;
    let vector_bytes = n * dim * 4;
    assert!(
        size(&two) - size(&one) + 64 >= vector_bytes - n * 4,
        "format 2 saves a copy of the vectors: {} against {} bytes",
        size(&one),
        size(&two)
    );
    let io = IoConfig::new(SegmentIo::Mmap);
    let (new, old) = (Segment::open(&one, &io).unwrap(), Segment::open(&two, &io).unwrap());
    assert!(new.graph().scaled() && !old.graph().scaled());
    for (i, r) in rows.iter().enumerate() {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&new.raw_vector(i as u32).unwrap()), bits(&r.2), "row {i} as written");
        assert_eq!(bits(&old.raw_vector(i as u32).unwrap()), bits(&r.2), "row {i} of the format-1 file");
        assert_eq!(bits(&new.compared_vector(i as u32)), bits(&old.compared_vector(i as u32)), "row {i} compared");
    }
    for q in rows.iter().step_by(37) {
        let mut query = q.2.clone();
        crate::hnsw::normalize(&mut query);
        let (a, b) = (new.search(&query, 10, 64, &|_| true), old.search(&query, 10, 64, &|_| true));
        assert_eq!(a.iter().map(|h| h.0).collect::<Vec<_>>(), b.iter().map(|h| h.0).collect::<Vec<_>>());
        for ((row, d), (_, e)) in a.iter().zip(&b) {
            assert!((d - e).abs() <= 1e-6, "row {row}: distance {d} against {e} over unit vectors");
            let exact = new.graph().distance_to(&query, *row).unwrap();
            assert_eq!(exact.to_bits(), d.to_bits(), "the exact scan scores row {row} as the graph search does");
        }
    }
}

/// A file whose vectors could be read as the other layout (rows as written
/// compared as unit vectors, or the reverse) is refused at open, naming
/// the file, not answered from.
#[test]
fn an_ambiguous_vector_layout_is_corruption() {
    let rows = rows_of_every_scale(40, 8);
    let dir = tempfile::tempdir().unwrap();
    let patch = |path: &std::path::Path, at: usize, byte: u8| {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[at] = byte;
        let crc = crc32c::crc32c(&bytes[..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(path, bytes).unwrap();
    };
    let refused = |path: &std::path::Path, what: &str| match Segment::open(path, &IoConfig::new(SegmentIo::Mmap)) {
        Err(crate::Error::Corruption { file, detail, .. }) => {
            assert_eq!(file, path);
            assert!(detail.contains(what), "{detail}");
        }
        other => panic!("opened {other:?}"),
    };
    // Format 2, cosine, no factors: an L2 file relabelled cosine.
    let l2 = write_file(dir.path(), &rows, &[], Metric::L2, FORMAT_MAJOR);
    patch(&l2, 20, 1);
    refused(&l2, "without vector_inv_norms");
    // Factors in a file that says format 1 (whose readers took `vectors` as unit).
    let scaled = write_file(dir.path(), &rows, &[], Metric::Cosine, FORMAT_MAJOR);
    patch(&scaled, 8, 1);
    refused(&scaled, "vector_inv_norms in a format-1 file");
    // Format-1 unit rows beside `raw_vectors`, relabelled format 2.
    let old = write_file(dir.path(), &rows, &[], Metric::Cosine, 1);
    patch(&old, 8, FORMAT_MAJOR as u8);
    refused(&old, "format 2");
}
