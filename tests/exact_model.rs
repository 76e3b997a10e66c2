//! Engine vs brute force (issue 13's second oracle): random writes, flushes
//! and compactions drive a `Collection` and a model (`BTreeMap` of the live
//! documents); after each step `search_with(exact)`, `count` and `ids`, with
//! random filter trees, must equal a brute-force evaluation over the model:
//! the same ids in the same order, distances to 1e-4. For all three
//! distances, with ids whose order follows the vectors' position (the
//! clustered, time-ordered keys real data has) or not.
//!
//! The filter reference here is written from the documented semantics in
//! `src/filter.rs`, independently of the engine's evaluator.

mod common;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use proptest::prelude::*;
use vego::{CollectionConfig, Db, Distance, Document, Durability, Filter, Options, SearchOptions, Value};

const DIM: usize = 6;
const IDS: u8 = 40;

#[derive(Clone, Debug)]
enum Step {
    Upsert(Vec<(u8, u16, Meta)>),
    Delete(Vec<u8>),
    Flush,
    Compact,
}

/// The metadata of a generated document.
#[derive(Clone, Debug)]
struct Meta {
    n: Option<Value>,
    tag: Option<Value>,
    flag: Option<bool>,
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..5).prop_map(Value::Int),
        (0i64..5).prop_map(|i| Value::Float(i as f64 + 0.5)),
        prop_oneof![Just("x"), Just("y"), Just("z")].prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn meta() -> impl Strategy<Value = Meta> {
    let n = proptest::option::of(prop_oneof![
        4 => scalar(),
        1 => Just(Value::Null),
        1 => proptest::collection::vec(scalar(), 0..3).prop_map(Value::List),
    ]);
    let tag = proptest::option::of(prop_oneof![
        prop_oneof![Just("x"), Just("y"), Just("z")].prop_map(Value::from),
        proptest::collection::vec(prop_oneof![Just("x"), Just("y")].prop_map(Value::from), 0..3).prop_map(Value::List),
    ]);
    (n, tag, proptest::option::of(any::<bool>())).prop_map(|(n, tag, flag)| Meta { n, tag, flag })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => proptest::collection::vec((0..IDS, any::<u16>(), meta()), 1..8).prop_map(Step::Upsert),
        2 => proptest::collection::vec(0..IDS, 1..5).prop_map(Step::Delete),
        1 => Just(Step::Flush),
        1 => Just(Step::Compact),
    ]
}

fn bound() -> impl Strategy<Value = Bound<f64>> {
    prop_oneof![
        Just(Bound::Unbounded),
        (0i64..6).prop_map(|x| Bound::Included(x as f64 / 2.0)),
        (0i64..6).prop_map(|x| Bound::Excluded(x as f64 / 2.0)),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    let field = prop_oneof![Just("n"), Just("tag"), Just("flag"), Just("missing")];
    let leaf = prop_oneof![
        (field.clone(), scalar()).prop_map(|(f, v)| Filter::eq(f, v)),
        (field.clone(), scalar()).prop_map(|(f, v)| Filter::ne(f, v)),
        (field.clone(), (0i64..5)).prop_map(|(f, v)| Filter::gt(f, v)),
        (field.clone(), (0i64..5)).prop_map(|(f, v)| Filter::lte(f, v as f64 + 0.25)),
        (field.clone(), proptest::collection::vec(scalar(), 0..3)).prop_map(|(f, v)| Filter::in_(f, v)),
        field.clone().prop_map(Filter::exists),
        (field.clone(), proptest::collection::vec(scalar(), 0..3)).prop_map(|(f, v)| Filter::match_any(f, v)),
        (field.clone(), proptest::collection::vec(scalar(), 0..3)).prop_map(|(f, v)| Filter::match_except(f, v)),
        proptest::collection::vec(0..IDS, 0..6).prop_map(|ids| Filter::ids(ids.into_iter().map(id))),
        (field.clone(), bound(), bound()).prop_map(|(f, lo, hi)| Filter::range(f, lo, hi)),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Filter::And),
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Filter::Or),
            inner.prop_map(Filter::not),
        ]
    })
}

/// Document ids: `d00` … `d39`, so id order is numeric order.
fn id(i: u8) -> String {
    format!("d{i:02}")
}

/// The vector of document `i` at version `v`. With `correlated`, vectors
/// move along one axis with the id (neighbours in space are neighbours in id
/// order, as chunks of one document or time-ordered keys are).
fn vector(i: u8, v: u16, correlated: bool, distance: Distance) -> Vec<f32> {
    let mut x = common::vector(u64::from(v) << 8 | u64::from(i), DIM);
    if correlated {
        x[0] = f32::from(i) / 4.0 + x[0] * 0.1;
    }
    if distance == Distance::InnerProduct {
        // Norms that differ by up to 4x: inner product is not a metric.
        let scale = 1.0 + f32::from(v % 4);
        x.iter_mut().for_each(|c| *c *= scale);
    }
    x
}

fn document(i: u8, v: u16, m: &Meta, correlated: bool, distance: Distance) -> Document {
    let mut d = Document::new(id(i), vector(i, v, correlated, distance));
    if let Some(n) = &m.n {
        d = d.with("n", n.clone());
    }
    if let Some(t) = &m.tag {
        d = d.with("tag", t.clone());
    }
    if let Some(f) = m.flag {
        d = d.with("flag", f);
    }
    d
}

// --------------------------------------------------------------------------
// The reference: documented semantics, written out.

fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => numeric(a)?.partial_cmp(&numeric(b)?),
    }
}

fn typed_eq(a: &Value, b: &Value) -> bool {
    let float = |v: &Value| matches!(v, Value::Float(_));
    float(a) == float(b) && order(a, b) == Some(Ordering::Equal)
}

/// The values a condition tests: a list's elements, else the value itself.
fn elems(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None => Vec::new(),
        Some(Value::List(items)) => items.iter().collect(),
        Some(v) => vec![v],
    }
}

fn reference(f: &Filter, doc_id: &str, meta: &BTreeMap<String, Value>) -> bool {
    use vego::Op;
    match f {
        Filter::And(fs) => fs.iter().all(|f| reference(f, doc_id, meta)),
        Filter::Or(fs) => fs.iter().any(|f| reference(f, doc_id, meta)),
        Filter::Not(f) => !reference(f, doc_id, meta),
        Filter::Ids(ids) => ids.contains(doc_id),
        Filter::Exists(field) => !matches!(meta.get(field), None | Some(Value::Null)),
        Filter::Cmp { field, op, value } => {
            let is = |x: &Value| {
                order(x, value).is_some_and(|o| match op {
                    Op::Eq | Op::Ne => o == Ordering::Equal,
                    Op::Gt => o == Ordering::Greater,
                    Op::Gte => o != Ordering::Less,
                    Op::Lt => o == Ordering::Less,
                    Op::Lte => o != Ordering::Greater,
                })
            };
            let any = elems(meta.get(field)).into_iter().any(is);
            if *op == Op::Ne {
                !any
            } else {
                any
            }
        }
        Filter::Range { field, lower, upper } => elems(meta.get(field)).into_iter().filter_map(numeric).any(|x| {
            (match lower {
                Bound::Included(b) => x >= *b,
                Bound::Excluded(b) => x > *b,
                Bound::Unbounded => true,
            }) && (match upper {
                Bound::Included(b) => x <= *b,
                Bound::Excluded(b) => x < *b,
                Bound::Unbounded => true,
            })
        }),
        Filter::In { field, values } => {
            elems(meta.get(field)).into_iter().any(|x| values.iter().any(|c| order(x, c) == Some(Ordering::Equal)))
        }
        Filter::Match { field, values, except } => elems(meta.get(field)).into_iter().any(|x| {
            let listed = values.iter().any(|c| typed_eq(x, c));
            if *except {
                *x != Value::Null && !listed
            } else {
                listed
            }
        }),
    }
}

fn true_distance(distance: Distance, q: &[f32], v: &[f32]) -> f32 {
    common::exact_distance(distance, q, v)
}

// --------------------------------------------------------------------------

fn check(
    c: &vego::Collection,
    model: &BTreeMap<u8, Document>,
    distance: Distance,
    filters: &[Filter],
    queries: &[Vec<f32>],
) -> Result<(), TestCaseError> {
    let snap = c.snapshot();
    for f in filters.iter().map(Some).chain([None]) {
        let matching: Vec<&Document> =
            model.values().filter(|d| f.is_none_or(|f| reference(f, &d.id, &d.metadata))).collect();
        let want_ids: Vec<String> = matching.iter().map(|d| d.id.clone()).collect();
        prop_assert_eq!(snap.ids(f).unwrap(), want_ids.clone(), "ids with filter {:?}", f);
        prop_assert_eq!(snap.count(f).unwrap(), want_ids.len() as u64, "count with filter {:?}", f);
        for q in queries {
            for k in [1, 5, IDS as usize + 5] {
                let mut opts = SearchOptions::new(k).exact(true).include_document(false);
                if let Some(f) = f {
                    opts = opts.filter(f.clone());
                }
                let got = snap.search_with(q, &opts).unwrap();
                let mut want: Vec<(f32, &str)> =
                    matching.iter().map(|d| (true_distance(distance, q, &d.vector), d.id.as_str())).collect();
                want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
                want.truncate(k);
                prop_assert_eq!(got.len(), want.len(), "k {} filter {:?}", k, f);
                for (i, (h, (d, wid))) in got.iter().zip(&want).enumerate() {
                    let tol = 1e-4 * (1.0 + d.abs());
                    prop_assert!(
                        (h.distance - d).abs() <= tol,
                        "hit {}: distance {} vs {} ({:?})",
                        i,
                        h.distance,
                        d,
                        f
                    );
                    // Ties (equal distances) may come in either order.
                    if h.id != *wid {
                        let tied = want.iter().any(|(d2, id2)| *id2 == h.id && (d2 - d).abs() <= tol);
                        prop_assert!(tied, "hit {}: {} instead of {} (filter {:?}, k {})", i, h.id, wid, f, k);
                    }
                }
            }
        }
    }
    Ok(())
}

fn run(distance: Distance, correlated: bool, steps: &[Step], filters: &[Filter]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().durability(Durability::None)).unwrap();
    let c = db.create_collection("m", CollectionConfig::new(DIM).distance(distance).m(4).ef_search(4)).unwrap();
    let queries: Vec<Vec<f32>> = (0..3u8).map(|i| vector(i * 13, 999, correlated, distance)).collect();
    let mut model: BTreeMap<u8, Document> = BTreeMap::new();
    for s in steps {
        match s {
            Step::Upsert(docs) => {
                let mut seen = BTreeSet::new();
                let docs: Vec<(u8, Document)> = docs
                    .iter()
                    .filter(|(i, _, _)| seen.insert(*i))
                    .map(|(i, v, m)| (*i, document(*i, *v, m, correlated, distance)))
                    .collect();
                c.upsert_batch(docs.iter().map(|(_, d)| d.clone()).collect()).unwrap();
                model.extend(docs);
            }
            Step::Delete(ids) => {
                let names: BTreeSet<String> = ids.iter().map(|&i| id(i)).collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                c.delete_batch(&refs).unwrap();
                ids.iter().for_each(|i| drop(model.remove(i)));
            }
            Step::Flush => c.flush().unwrap(),
            Step::Compact => drop(c.compact().unwrap()),
        }
        check(&c, &model, distance, filters, &queries)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn exact_search_count_and_ids_equal_brute_force(
        steps in proptest::collection::vec(step(), 1..12),
        filters in proptest::collection::vec(filter(), 1..4),
        correlated in any::<bool>(),
    ) {
        for distance in [Distance::L2, Distance::Cosine, Distance::InnerProduct] {
            run(distance, correlated, &steps, &filters)?;
        }
    }
}
