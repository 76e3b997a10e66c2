//! Round-trip and filter-evaluation properties of whole segment files.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::build::{self, RowIn, SegmentIn};
use super::filter_eval::{matching_rows, segment_may_match};
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
    let graph = Hnsw::new(4, metric, HnswParams { m: 4, ef_construction: 16, seed: 1, quantize: false });
    for (i, r) in rows.iter().enumerate() {
        let mut v = r.2.clone();
        if metric == Metric::Cosine {
            crate::hnsw::normalize(&mut v);
        }
        graph.insert_at(i as u32, &v);
    }
    let input = SegmentIn {
        dimension: 4,
        metric: if metric == Metric::Cosine { 1 } else { 0 },
        rows: rows.iter().map(|r| RowIn { id: &r.0, seq: r.1, vector: &r.2, metadata: &r.3 }).collect(),
        tombstones: tombs.iter().map(|t| (t.0.as_str(), t.1)).collect(),
        graph: graph.to_flat().expect("all rows inserted"),
    };
    let path = dir.join("00000000000000000001.vseg");
    write_file_atomically(&vego_storage::StdStorage, &path, &build::encode(&input)).unwrap();
    Segment::open(&path, &IoConfig::new(io)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_segment_read_back_equals_its_input((rows, tombs) in arb_rows(), cosine in any::<bool>(), backend in 0..3u8) {
        let dir = tempfile::tempdir().unwrap();
        // Every backend; a tiny block cache makes pread / io_uring cross block boundaries and evict.
        let io = match backend {
            0 => SegmentIo::Mmap,
            1 => SegmentIo::Pread { cache_bytes: 1 },
            _ => SegmentIo::Uring { cache_bytes: 1 },
        };
        let seg = write_with(dir.path(), &rows, &tombs, if cosine { Metric::Cosine } else { Metric::L2 }, io);
        prop_assert_eq!(seg.rows() as usize, rows.len());
        for (i, r) in rows.iter().enumerate() {
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
