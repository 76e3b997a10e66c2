//! Property and unit tests of the column encoding.

use std::cmp::Ordering;

use proptest::prelude::*;

use super::*;
use crate::model::filter::Op as CmpOp;

// ------------------------------------------------------------------ helpers

/// Equality that compares floats by bits (NaN, -0.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        _ => a == b,
    }
}

fn same_rows(a: &[Option<Value>], b: &[Option<Value>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => same(x, y),
            _ => false,
        })
}

fn refs(vals: &[Option<Value>]) -> Vec<Option<&Value>> {
    vals.iter().map(Option::as_ref).collect()
}

/// Encodes, decodes the page and every row, and checks both against `vals`.
fn round_trip(kind: ColumnKind, vals: &[Option<Value>]) -> EncodedPage {
    let page = encode_page(kind, &refs(vals));
    let back = decode_page(kind, &page.bytes).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    assert!(same_rows(vals, &back), "{kind:?} page did not round-trip");
    for (i, want) in vals.iter().enumerate() {
        let got = decode_row(kind, &page.bytes, i).unwrap();
        assert!(same_rows(std::slice::from_ref(want), std::slice::from_ref(&got)), "row {i}");
    }
    assert!(decode_row(kind, &page.bytes, vals.len()).is_err());
    let info = page_info(&page.bytes).unwrap();
    assert_eq!(info.rows as usize, vals.len());
    assert_eq!(info.present as usize, vals.iter().flatten().count());
    assert_eq!(page.zone.rows as usize, vals.len());
    let (z, used) = decode_zone(&encode_zone(&page.zone)).unwrap();
    assert_eq!(used, encode_zone(&page.zone).len());
    assert_eq!(z, page.zone);
    page
}

fn encoding_of(page: &EncodedPage) -> Encoding {
    page_info(&page.bytes).unwrap().encoding
}

/// Small deterministic PRNG (xorshift64*), for data sets in plain tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// --------------------------------------------------------------- strategies

fn arb_int() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), Just(0i64), -1000..1000i64]
}

fn arb_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(0.0f64),
        Just(-0.0f64),
        Just(f64::MIN_POSITIVE / 4.0),
        Just(-f64::from_bits(1)),
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::INFINITY),
        Just(f64::NAN),
        -1e6..1e6f64,
    ]
}

fn arb_str() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-c]{0,4}",
        "\\PC{0,12}",
        "[a-z ]{60,90}",
        Just("\u{10FFFF}".repeat(20)),
        Just("é".repeat(40)),
    ]
}

fn arb_any() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_int().prop_map(Value::Int),
        arb_float().prop_map(Value::Float),
        arb_str().prop_map(Value::Str),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| prop::collection::vec(inner, 0..4).prop_map(Value::List))
}

fn arb_value(kind: ColumnKind) -> BoxedStrategy<Value> {
    match kind {
        ColumnKind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        ColumnKind::Int => arb_int().prop_map(Value::Int).boxed(),
        ColumnKind::Float => arb_float().prop_map(Value::Float).boxed(),
        ColumnKind::Str => arb_str().prop_map(Value::Str).boxed(),
        ColumnKind::Any => arb_any().boxed(),
    }
}

fn arb_kind() -> impl Strategy<Value = ColumnKind> {
    prop_oneof![
        Just(ColumnKind::Bool),
        Just(ColumnKind::Int),
        Just(ColumnKind::Float),
        Just(ColumnKind::Str),
        Just(ColumnKind::Any)
    ]
}

fn arb_rows() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 0..48usize, 1 => 0..=PAGE_ROWS_MAX, 1 => Just(PAGE_ROWS_MAX)]
}

/// `Some` with probability `p` (proptest's `weighted` refuses 0 and 1).
fn opt(p: f64, s: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    if p >= 1.0 {
        s.prop_map(Some).boxed()
    } else if p <= 0.0 {
        Just(None).boxed()
    } else {
        prop::option::weighted(p, s).boxed()
    }
}

fn arb_page(kind: ColumnKind) -> impl Strategy<Value = Vec<Option<Value>>> {
    let absent_rate = prop_oneof![Just(0.0f64), Just(0.3), Just(0.97), Just(1.0)];
    (absent_rate, arb_rows())
        .prop_flat_map(move |(p_absent, rows)| prop::collection::vec(opt(1.0 - p_absent, arb_value(kind)), rows))
}

/// Int pages shaped to exercise each int encoding.
fn arb_int_page() -> impl Strategy<Value = Vec<Option<Value>>> {
    let shaped = (arb_rows(), any::<i64>(), 0u32..64, any::<u64>()).prop_map(|(rows, start, wbits, seed)| {
        let mut rng = Rng(seed | 1);
        let shape = seed % 4;
        let mut v = start;
        (0..rows)
            .map(|i| {
                let r = if wbits == 0 { 0 } else { rng.next() >> (64 - wbits) } as i64;
                let x = match shape {
                    0 => start.wrapping_add(r), // small range: frame of reference
                    1 => v.wrapping_add(r),     // increasing: delta
                    2 => start,                 // constant
                    _ => {
                        if i % 2 == 0 {
                            i64::MIN
                        } else {
                            i64::MAX
                        }
                    } // extremes
                };
                v = x;
                if rng.below(10) == 0 && shape != 3 {
                    None
                } else {
                    Some(Value::Int(x))
                }
            })
            .collect()
    });
    prop_oneof![shaped, arb_page(ColumnKind::Int)]
}

// ------------------------------------------------------------- round trips

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_single_bit_flips_in_random_pages_are_detected(
        (kind, vals) in arb_kind().prop_flat_map(|k| (Just(k), arb_page(k))),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut b = encode_page(kind, &refs(&vals)).bytes;
        let i = at.index(b.len());
        b[i] ^= 1 << bit;
        prop_assert!(decode_page(kind, &b).is_err());
    }

    #[test]
    fn pages_round_trip((kind, vals) in arb_kind().prop_flat_map(|k| (Just(k), arb_page(k)))) {
        round_trip(kind, &vals);
        // Every page also decodes when the whole column was made Any.
        round_trip(ColumnKind::Any, &vals);
    }

    #[test]
    fn int_pages_round_trip(vals in arb_int_page()) {
        let page = round_trip(ColumnKind::Int, &vals);
        // The chosen encoding is the smallest of the three.
        let ints: Vec<i64> = vals.iter().flatten().map(|v| if let Value::Int(i) = v { *i } else { 0 }).collect();
        prop_assert!(page_info(&page.bytes).unwrap().raw_len as usize <= ints.len() * 8);
    }

    #[test]
    fn mixed_values_in_typed_columns_fall_back_to_tagged(
        kind in arb_kind(),
        vals in prop::collection::vec(prop::option::of(arb_any()), 0..40),
    ) {
        let page = round_trip(kind, &vals);
        if vals.iter().flatten().any(|v| !kind.holds(v)) {
            prop_assert!(matches!(
                encoding_of(&page),
                Encoding::TaggedPlain | Encoding::TaggedSnappy | Encoding::TaggedZstd
            ));
            prop_assert_eq!(&page.zone.min, &None);
        }
    }
}

#[test]
fn boundary_pages_round_trip() {
    for kind in [ColumnKind::Bool, ColumnKind::Int, ColumnKind::Float, ColumnKind::Str, ColumnKind::Any] {
        round_trip(kind, &[]);
        round_trip(kind, &vec![None; PAGE_ROWS_MAX]);
        round_trip(kind, &vec![None; 13]);
    }
    let ints = [i64::MIN, i64::MAX, 0, -1, 1, i64::MIN + 1, i64::MAX - 1];
    for n in [1, 2, 7, 8, 9, 63, 64, 65, PAGE_ROWS_MAX - 1, PAGE_ROWS_MAX] {
        let v: Vec<_> = (0..n).map(|i| Some(Value::Int(ints[i % ints.len()]))).collect();
        round_trip(ColumnKind::Int, &v);
        let v: Vec<_> = (0..n).map(|i| Some(Value::Int(i as i64 * 1_000_000_007))).collect();
        assert_eq!(
            encoding_of(&round_trip(ColumnKind::Int, &v)),
            if n < 3 { Encoding::IntPlain } else { Encoding::IntDelta }
        );
        let v: Vec<_> = (0..n).map(|i| (i % 3 != 0).then_some(Value::Bool(i % 5 == 0))).collect();
        round_trip(ColumnKind::Bool, &v);
    }
    let floats =
        [0.0, -0.0, f64::from_bits(1), -f64::from_bits(0x000F_FFFF_FFFF_FFFF), f64::MAX, f64::NAN, f64::NEG_INFINITY];
    round_trip(ColumnKind::Float, &floats.iter().map(|f| Some(Value::Float(*f))).collect::<Vec<_>>());
    let strs = ["", "a", "日本語", "\u{10FFFF}", "\0", "éé"];
    round_trip(ColumnKind::Str, &strs.iter().map(|s| Some(Value::Str(s.to_string()))).collect::<Vec<_>>());
    let nested = Value::List(vec![
        Value::Null,
        Value::List(vec![Value::List(vec![]), Value::Str("x".into()), Value::Float(-0.0)]),
        Value::Int(i64::MIN),
    ]);
    let mut deep = Value::Int(1);
    for _ in 0..40 {
        deep = Value::List(vec![deep]);
    }
    round_trip(ColumnKind::Any, &[Some(nested), None, Some(Value::Null), Some(deep), Some(Value::Bool(true))]);
}

#[test]
fn column_kind_is_the_shared_scalar_type() {
    let i = Value::Int(1);
    let f = Value::Float(1.0);
    let s = Value::Str("a".into());
    let b = Value::Bool(true);
    assert_eq!(column_kind(&[Some(&i), None, Some(&i)]), ColumnKind::Int);
    assert_eq!(column_kind(&[Some(&f), None]), ColumnKind::Float);
    assert_eq!(column_kind(&[Some(&s)]), ColumnKind::Str);
    assert_eq!(column_kind(&[None, Some(&b)]), ColumnKind::Bool);
    assert_eq!(column_kind(&[Some(&i), Some(&f)]), ColumnKind::Any);
    assert_eq!(column_kind(&[Some(&i), Some(&Value::Null)]), ColumnKind::Any);
    assert_eq!(column_kind(&[Some(&Value::List(vec![i.clone()]))]), ColumnKind::Any);
    assert_eq!(column_kind(&[None, None]), ColumnKind::Any);
    assert_eq!(column_kind(&[]), ColumnKind::Any);
}

// ------------------------------------------------------- encoding choice

#[test]
fn each_encoding_is_chosen_when_it_wins() {
    let mut rng = Rng(42);
    let enc = |kind, vals: &[Option<Value>]| encoding_of(&round_trip(kind, vals));

    let sorted: Vec<_> = (0..4096).map(|i| Some(Value::Int(1_700_000_000_000 + i * 1000 + (i % 7)))).collect();
    assert_eq!(enc(ColumnKind::Int, &sorted), Encoding::IntDelta);
    let small: Vec<_> = (0..4096).map(|_| Some(Value::Int(rng.below(1000) as i64 - 500))).collect();
    assert_eq!(enc(ColumnKind::Int, &small), Encoding::IntFor);
    let wide: Vec<_> = (0..4096).map(|_| Some(Value::Int(rng.next() as i64))).collect();
    assert_eq!(enc(ColumnKind::Int, &wide), Encoding::IntPlain);
    let constant: Vec<_> = (0..4096).map(|_| Some(Value::Int(7))).collect();
    let page = round_trip(ColumnKind::Int, &constant);
    assert_eq!(page_info(&page.bytes).unwrap().raw_len, 9, "constant column packs to 0 bits");

    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
    let text = |rng: &mut Rng, n: usize| -> String {
        (0..n).map(|_| words[rng.below(words.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
    };
    let large: Vec<_> = (0..2000).map(|_| Some(Value::Str(text(&mut rng, 20)))).collect();
    assert_eq!(enc(ColumnKind::Str, &large), Encoding::StrZstd);
    let cats: Vec<_> = (0..500).map(|i| (i % 7 != 0).then(|| Value::Str(words[i % 3].to_string()))).collect();
    assert_eq!(enc(ColumnKind::Str, &cats), Encoding::StrDict);
    let constant: Vec<_> = (0..4096).map(|_| Some(Value::Str("same".into()))).collect();
    let page = round_trip(ColumnKind::Str, &constant);
    assert_eq!((encoding_of(&page), page_info(&page.bytes).unwrap().raw_len), (Encoding::StrDict, 13));
    let users: Vec<_> = (0..500).map(|i| Some(Value::Str(format!("user-{i:05}")))).collect();
    assert_eq!(enc(ColumnKind::Str, &users), Encoding::StrSnappy);
    let random = [Some(Value::Str((0..30).map(|_| char::from(b'!' + rng.below(90) as u8)).collect()))];
    assert_eq!(enc(ColumnKind::Str, &random), Encoding::StrPlain);

    let any_large: Vec<_> =
        (0..2000).map(|i| Some(Value::List(vec![Value::Int(i), Value::Str(text(&mut rng, 10))]))).collect();
    assert_eq!(enc(ColumnKind::Any, &any_large), Encoding::TaggedZstd);
    let any_small: Vec<_> =
        (0..300).map(|i| Some(if i % 2 == 0 { Value::Int(1) } else { Value::Float(1.5) })).collect();
    assert_eq!(enc(ColumnKind::Any, &any_small), Encoding::TaggedSnappy);
    assert_eq!(enc(ColumnKind::Any, &[Some(Value::Null)]), Encoding::TaggedPlain);
    assert_eq!(enc(ColumnKind::Bool, &[Some(Value::Bool(true)), None]), Encoding::BoolBitmap);
    assert_eq!(enc(ColumnKind::Float, &[Some(Value::Float(1.0))]), Encoding::FloatPlain);
}

#[test]
fn oversized_pages_are_refused_and_page_rows_fitting_cuts_them() {
    let rows: Vec<Option<Value>> = vec![None; PAGE_ROWS_MAX + 1];
    assert!(try_encode_page(ColumnKind::Int, &refs(&rows)).is_err());
    assert_eq!(page_rows_fitting(ColumnKind::Int, &refs(&rows)), PAGE_ROWS_MAX);
    let big = Value::Str("x".repeat(1 << 20));
    let vals: Vec<Option<&Value>> = vec![Some(&big); 100];
    let n = page_rows_fitting(ColumnKind::Str, &vals);
    assert_eq!(n, 63, "63 MiB strings fit in 64 MiB, 64 do not (length prefixes)");
    assert!(try_encode_page(ColumnKind::Str, &vals[..n + 1]).is_err());
    let page = try_encode_page(ColumnKind::Str, &vals[..n]).unwrap();
    assert_eq!(decode_row(ColumnKind::Str, &page.bytes, n - 1).unwrap().as_ref(), Some(&big));
}

// ---------------------------------------------------------------- zone maps

/// The filter's semantics, written independently of the zone code.
fn ref_compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Float(y)) => (*x as f64).partial_cmp(y),
        (Value::Float(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Str(x), Value::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

fn ref_is(stored: &Value, operand: &Value, op: CmpOp) -> bool {
    let Some(o) = ref_compare(stored, operand) else { return false };
    match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Gte => o != Ordering::Less,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Lte => o != Ordering::Greater,
    }
}

fn any_elem(field: Option<&Value>, pred: impl Fn(&Value) -> bool) -> bool {
    match field {
        None => false,
        Some(Value::List(items)) => items.iter().any(pred),
        Some(v) => pred(v),
    }
}

fn ref_matches(field: Option<&Value>, op: CmpOp, operand: &Value) -> bool {
    match op {
        CmpOp::Ne => !any_elem(field, |v| ref_is(v, operand, CmpOp::Eq)),
        _ => any_elem(field, |v| ref_is(v, operand, op)),
    }
}

/// Values from a small domain, so predicates often hit page boundaries.
fn zone_value(kind: ColumnKind) -> BoxedStrategy<Value> {
    let long = |c: char| format!("{}{c}", "m".repeat(70));
    match kind {
        ColumnKind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        ColumnKind::Int => {
            prop_oneof![-6..6i64, Just(i64::MAX), Just(9_007_199_254_740_993i64)].prop_map(Value::Int).boxed()
        }
        ColumnKind::Float => prop_oneof![
            (-12..12i32).prop_map(|i| i as f64 / 2.0),
            Just(-0.0),
            Just(9_007_199_254_740_992.0),
            Just(f64::INFINITY)
        ]
        .prop_map(Value::Float)
        .boxed(),
        ColumnKind::Str => prop_oneof![
            "[a-d]{0,3}",
            Just(long('a')),
            Just(long('z')),
            Just(format!("{}{}", "\u{10FFFF}".repeat(20), "x")),
            Just("m".repeat(64)),
        ]
        .prop_map(Value::Str)
        .boxed(),
        ColumnKind::Any => prop_oneof![
            Just(Value::Null),
            (-3..3i64).prop_map(Value::Int),
            Just(Value::Float(0.5)),
            "[ab]".prop_map(Value::Str),
            prop::collection::vec((-3..3i64).prop_map(Value::Int), 0..3).prop_map(Value::List),
        ]
        .boxed(),
    }
}

fn zone_operand() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![-7..7i64, Just(i64::MAX), Just(9_007_199_254_740_992i64)].prop_map(Value::Int),
        prop_oneof![(-14..14i32).prop_map(|i| i as f64 / 2.0), Just(f64::NAN), Just(9_007_199_254_740_992.0)]
            .prop_map(Value::Float),
        prop_oneof!["[a-e]{0,3}", Just(format!("{}a", "m".repeat(70))), Just("m".repeat(64)), Just("m".repeat(80))]
            .prop_map(Value::Str),
    ]
}

fn arb_op() -> impl Strategy<Value = CmpOp> {
    prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne), Just(CmpOp::Gt), Just(CmpOp::Gte), Just(CmpOp::Lt), Just(CmpOp::Lte)]
}

fn arb_zone_page() -> impl Strategy<Value = (ColumnKind, Vec<Option<Value>>)> {
    arb_kind().prop_flat_map(|k| {
        let rate = prop_oneof![Just(1.0f64), Just(0.8), Just(0.0)];
        (Just(k), rate.prop_flat_map(move |p| prop::collection::vec(opt(p, zone_value(k)), 0..8)))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn zone_maps_never_prune_a_matching_page(
        (kind, vals) in arb_zone_page(),
        op in arb_op(),
        operand in zone_operand(),
        ins in prop::collection::vec(zone_operand(), 0..3),
    ) {
        let page = encode_page(kind, &refs(&vals));
        let (zone, _) = decode_zone(&encode_zone(&page.zone)).unwrap();
        prop_assert_eq!(&zone, &page.zone);
        if !zone_may_match(&zone, op, &operand) {
            for v in &vals {
                prop_assert!(!ref_matches(v.as_ref(), op, &operand), "{:?} {:?} {:?} matches {:?}", zone, op, operand, v);
            }
        }
        if !zone_may_match_in(&zone, &ins) {
            for v in &vals {
                prop_assert!(!ins.iter().any(|o| any_elem(v.as_ref(), |x| ref_is(x, o, CmpOp::Eq))));
            }
        }
        if !zone_may_exist(&zone) {
            prop_assert!(vals.iter().all(|v| matches!(v, None | Some(Value::Null))));
        }
    }
}

#[test]
fn zone_maps_prune() {
    let z = |kind, vals: &[Option<Value>]| encode_page(kind, &refs(vals)).zone;
    let ints: Vec<_> = (10..=20).map(|i| Some(Value::Int(i))).collect();
    let zi = z(ColumnKind::Int, &ints);
    assert_eq!((zi.min.clone(), zi.max.clone()), (Some(Value::Int(10)), Some(Value::Int(20))));
    assert!(!zone_may_match(&zi, CmpOp::Eq, &Value::Int(30)));
    assert!(!zone_may_match(&zi, CmpOp::Gt, &Value::Float(20.0)));
    assert!(zone_may_match(&zi, CmpOp::Gt, &Value::Float(19.5)));
    assert!(!zone_may_match(&zi, CmpOp::Lt, &Value::Int(10)));
    assert!(zone_may_match(&zi, CmpOp::Lte, &Value::Int(10)));
    assert!(!zone_may_match(&zi, CmpOp::Eq, &Value::Str("15".into())));
    assert!(zone_may_match(&zi, CmpOp::Ne, &Value::Str("15".into())));
    assert!(!zone_may_match_in(&zi, &[Value::Int(1), Value::Int(99)]));
    assert!(zone_may_match_in(&zi, &[Value::Int(1), Value::Float(15.0)]));
    let constant = z(ColumnKind::Int, &[Some(Value::Int(5)), Some(Value::Int(5))]);
    assert!(!zone_may_match(&constant, CmpOp::Ne, &Value::Float(5.0)));
    let with_absent = z(ColumnKind::Int, &[Some(Value::Int(5)), None]);
    assert!(zone_may_match(&with_absent, CmpOp::Ne, &Value::Int(5)));
    let empty = z(ColumnKind::Int, &[None, None]);
    assert!(!zone_may_exist(&empty) && !zone_may_match(&empty, CmpOp::Eq, &Value::Int(5)));
    assert!(zone_may_match(&empty, CmpOp::Ne, &Value::Int(5)));

    let long_a = "q".repeat(100) + "a";
    let strs = [Some(Value::Str(long_a.clone())), Some(Value::Str("r".into()))];
    let zs = z(ColumnKind::Str, &strs);
    assert_eq!(zs.min, Some(Value::Str("q".repeat(ZONE_STR_BYTES_MAX))));
    assert!(zone_may_match(&zs, CmpOp::Eq, &Value::Str(long_a)));
    assert!(!zone_may_match(&zs, CmpOp::Eq, &Value::Str("s".into())));
    let zl = z(ColumnKind::Str, &[Some(Value::Str("z".repeat(100)))]);
    assert_eq!(zl.max, Some(Value::Str("z".repeat(ZONE_STR_BYTES_MAX - 1) + "{")));

    let any = z(ColumnKind::Any, &[Some(Value::Int(1)), Some(Value::Str("a".into()))]);
    assert!(zone_may_match(&any, CmpOp::Eq, &Value::Int(99)));
    let nulls = z(ColumnKind::Any, &[Some(Value::Null), None]);
    assert!(!zone_may_exist(&nulls));
    assert!(zone_may_match(&nulls, CmpOp::Eq, &Value::Null), "Null == Null holds in filters");
}

// -------------------------------------------------------------- corruption

fn sample_pages() -> Vec<(ColumnKind, Vec<u8>)> {
    let mut rng = Rng(7);
    let mut out = Vec::new();
    let mut add = |kind, vals: Vec<Option<Value>>| out.push((kind, encode_page(kind, &refs(&vals)).bytes));
    add(ColumnKind::Bool, (0..37).map(|i| (i % 4 != 0).then_some(Value::Bool(i % 3 == 0))).collect());
    add(ColumnKind::Int, (0..40).map(|i| Some(Value::Int(i * 3))).collect());
    add(ColumnKind::Int, (0..40).map(|_| Some(Value::Int(rng.below(100) as i64))).collect());
    add(ColumnKind::Int, vec![Some(Value::Int(i64::MIN)), None, Some(Value::Int(i64::MAX))]);
    add(ColumnKind::Float, vec![Some(Value::Float(1.5)), None, Some(Value::Float(-0.0))]);
    add(ColumnKind::Str, vec![Some(Value::Str("héllo".into())), None, Some(Value::Str(String::new()))]);
    add(ColumnKind::Str, (0..60).map(|i| Some(Value::Str(["red", "green"][i % 2].into()))).collect());
    add(ColumnKind::Any, vec![Some(Value::List(vec![Value::Null, Value::Int(3)])), None, Some(Value::Null)]);
    add(ColumnKind::Any, (0..40).map(|i| Some(Value::List(vec![Value::Int(i % 2)]))).collect());
    add(
        ColumnKind::Str,
        (0..1500).map(|i| Some(Value::Str(format!("row {} of a page {}", i % 10, "x".repeat(40))))).collect(),
    );
    out
}

#[test]
fn every_single_bit_flip_is_detected() {
    for (kind, bytes) in sample_pages() {
        let limit = bytes.len().min(4096);
        for byte in (0..limit).chain(bytes.len() - limit..bytes.len()) {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[byte] ^= 1 << bit;
                let e = decode_page(kind, &b).expect_err("flipped bit decoded");
                assert_eq!(e.offset, b.len() - CRC_LEN, "{e}");
                assert!(decode_row(kind, &b, 0).is_err());
            }
        }
    }
}

#[test]
fn every_truncation_is_detected() {
    for (kind, bytes) in sample_pages() {
        for len in 0..bytes.len() {
            assert!(decode_page(kind, &bytes[..len]).is_err(), "{kind:?} truncated to {len}");
            assert!(decode_row(kind, &bytes[..len], 0).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_page(kind, &longer).is_err());
    }
}

#[test]
fn wrong_kind_and_unknown_encoding_are_refused() {
    let page = encode_page(ColumnKind::Int, &[Some(&Value::Int(1))]);
    assert!(decode_page(ColumnKind::Str, &page.bytes).is_err());
    let mut b = page.bytes.clone();
    b[0] = 99;
    let n = b.len();
    let crc = crc32c::crc32c(&b[..n - 4]);
    b[n - 4..].copy_from_slice(&crc.to_le_bytes());
    let e = decode_page(ColumnKind::Int, &b).unwrap_err();
    assert_eq!(e.offset, 0);
    assert!(e.detail.contains("unknown encoding"), "{e}");
}

/// Re-seals a page after tampering, so the checksum no longer shields the parsers.
fn reseal(b: &mut [u8]) {
    if b.len() >= CRC_LEN {
        let n = b.len();
        let crc = crc32c::crc32c(&b[..n - CRC_LEN]);
        b[n - CRC_LEN..].copy_from_slice(&crc.to_le_bytes());
    }
}

fn decode_everything(kind: ColumnKind, b: &[u8]) {
    let whole = decode_page(kind, b);
    let _ = page_info(b);
    for row in [0, 1, 2, 5, 39, 4095, usize::MAX] {
        let r = decode_row(kind, b, row);
        if let (Ok(rows), Ok(v)) = (&whole, &r) {
            assert!(same_rows(std::slice::from_ref(&rows[row]), std::slice::from_ref(v)));
        }
    }
    let _ = decode_zone(b);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(kind in arb_kind(), bytes in prop::collection::vec(any::<u8>(), 0..200), seal: bool) {
        let mut bytes = bytes;
        if seal {
            reseal(&mut bytes);
        }
        decode_everything(kind, &bytes);
    }

    #[test]
    fn tampered_resealed_pages_never_panic(
        which in 0usize..10,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let pages = sample_pages();
        let (kind, mut b) = pages[which % pages.len()].clone();
        for (at, byte) in edits {
            let i = at.index(b.len());
            b[i] = byte;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len()).max(HEADER_LEN + CRC_LEN));
        }
        reseal(&mut b);
        decode_everything(kind, &b);
        decode_everything(ColumnKind::Any, &b);
    }
}

#[test]
fn huge_declared_lengths_are_refused_before_allocating() {
    let page = encode_page(ColumnKind::Str, &[Some(&Value::Str("abc".repeat(100)))]);
    assert_eq!(encoding_of(&page), Encoding::StrSnappy);
    for raw_len in [u32::MAX, (PAGE_BYTES_MAX + 1) as u32, (PAGE_BYTES_MAX) as u32] {
        let mut b = page.bytes.clone();
        b[6..10].copy_from_slice(&raw_len.to_le_bytes());
        reseal(&mut b);
        assert!(decode_page(ColumnKind::Str, &b).is_err());
    }
    let mut b = page.bytes.clone();
    b[2..6].copy_from_slice(&u32::MAX.to_le_bytes());
    reseal(&mut b);
    assert!(decode_page(ColumnKind::Str, &b).unwrap_err().detail.contains("PAGE_ROWS_MAX"));
    // A tagged list claiming 4 billion items in a few bytes.
    let mut raw = vec![6u8];
    raw.extend_from_slice(&u32::MAX.to_le_bytes());
    let mut b = vec![Encoding::TaggedPlain as u8, 0];
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&(raw.len() as u32 + 4).to_le_bytes());
    b.extend_from_slice(&(raw.len() as u32 + 4).to_le_bytes());
    b.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    b.extend_from_slice(&raw);
    b.extend_from_slice(&[0; 4]);
    reseal(&mut b);
    let e = decode_page(ColumnKind::Any, &b).unwrap_err();
    assert!(e.detail.contains("list of"), "{e}");
    assert_eq!(e.offset, HEADER_LEN + 4 + 5);
}

// ----------------------------------------------------------------- figures

/// `cargo test --release -- --ignored --nocapture compression_ratios`
#[test]
#[ignore]
fn compression_ratios() {
    let mut rng = Rng(2024);
    let report = |name: &str, kind: ColumnKind, vals: Vec<Option<Value>>, naive: usize| {
        let mut stored = 0;
        let mut encs = std::collections::BTreeMap::new();
        let t = std::time::Instant::now();
        let mut pages = Vec::new();
        for chunk in vals.chunks(PAGE_ROWS_MAX) {
            let p = encode_page(kind, &refs(chunk));
            stored += p.bytes.len();
            *encs.entry(format!("{:?}", encoding_of(&p))).or_insert(0) += 1;
            pages.push(p.bytes);
        }
        let enc_t = t.elapsed();
        let t = std::time::Instant::now();
        let mut n = 0;
        for p in &pages {
            n += decode_page(kind, p).unwrap().len();
        }
        let dec_t = t.elapsed();
        assert_eq!(n, vals.len());
        println!(
            "{name:<34} rows {:>7}  naive {:>10} B  stored {:>10} B  ratio {:>6.2}x  {:>5.2} B/row  enc {:>6.1} ms  dec {:>6.1} ms  {encs:?}",
            vals.len(),
            naive,
            stored,
            naive as f64 / stored as f64,
            stored as f64 / vals.len() as f64,
            enc_t.as_secs_f64() * 1e3,
            dec_t.as_secs_f64() * 1e3,
        );
    };
    const N: usize = 100_000;
    let ints = |v: Vec<i64>| v.into_iter().map(|i| Some(Value::Int(i))).collect::<Vec<_>>();
    report("ints uniform 0..1000", ColumnKind::Int, ints((0..N).map(|_| rng.below(1000) as i64).collect()), N * 8);
    let mut ts = 1_700_000_000_000i64;
    let stamps: Vec<i64> = (0..N)
        .map(|_| {
            ts += 1 + rng.below(2000) as i64;
            ts
        })
        .collect();
    report("timestamps ms, +1..2000 steps", ColumnKind::Int, ints(stamps), N * 8);
    let mut ts = 1_700_000_000i64;
    let regular: Vec<i64> = (0..N)
        .map(|_| {
            ts += 60;
            ts
        })
        .collect();
    report("timestamps s, every 60 s", ColumnKind::Int, ints(regular), N * 8);
    report("ids random i64", ColumnKind::Int, ints((0..N).map(|_| rng.next() as i64).collect()), N * 8);
    let sparse: Vec<_> = (0..N).map(|i| (rng.below(10) == 0).then_some(Value::Int(i as i64))).collect();
    report("ints 10% present", ColumnKind::Int, sparse, N / 10 * 8);
    report(
        "floats uniform",
        ColumnKind::Float,
        (0..N).map(|_| Some(Value::Float(rng.next() as f64 / u64::MAX as f64))).collect(),
        N * 8,
    );
    report("bools 50/50", ColumnKind::Bool, (0..N).map(|_| Some(Value::Bool(rng.below(2) == 0))).collect(), N);

    let cats = [
        "news", "sports", "finance", "tech", "health", "travel", "food", "science", "arts", "politics", "weather",
        "autos",
    ];
    let cat_vals: Vec<_> = (0..N).map(|_| cats[rng.below(cats.len() as u64) as usize]).collect();
    let naive: usize = cat_vals.iter().map(|s| s.len()).sum();
    report(
        "category strings (12 values)",
        ColumnKind::Str,
        cat_vals.into_iter().map(|s| Some(Value::Str(s.into()))).collect(),
        naive,
    );

    let words = [
        "the",
        "of",
        "and",
        "to",
        "in",
        "a",
        "is",
        "that",
        "for",
        "it",
        "as",
        "was",
        "with",
        "be",
        "by",
        "on",
        "not",
        "he",
        "this",
        "are",
        "or",
        "his",
        "from",
        "at",
        "which",
        "but",
        "have",
        "an",
        "they",
        "you",
        "were",
        "their",
        "one",
        "all",
        "we",
        "can",
        "her",
        "has",
        "there",
        "been",
        "if",
        "more",
        "when",
        "will",
        "would",
        "who",
        "so",
        "vector",
        "database",
        "segment",
        "embedding",
        "search",
        "index",
        "query",
        "storage",
        "compression",
        "page",
    ];
    let text: Vec<String> = (0..20_000)
        .map(|_| {
            let n = 20 + rng.below(60) as usize;
            let mut s = String::new();
            for k in 0..n {
                // Zipf-ish: favour the first words.
                let w = words
                    [(rng.below(words.len() as u64) * rng.below(words.len() as u64) / words.len() as u64) as usize];
                if k > 0 {
                    s.push(' ');
                }
                s.push_str(w);
            }
            s.push('.');
            s
        })
        .collect();
    let naive: usize = text.iter().map(String::len).sum();
    report(
        "English-like text 20-80 words",
        ColumnKind::Str,
        text.into_iter().map(|s| Some(Value::Str(s))).collect(),
        naive,
    );

    let uuids: Vec<String> = (0..N).map(|_| format!("{:016x}{:016x}", rng.next(), rng.next())).collect();
    let naive: usize = uuids.iter().map(String::len).sum();
    report("hex ids (32 chars)", ColumnKind::Str, uuids.into_iter().map(|s| Some(Value::Str(s))).collect(), naive);

    let tags: Vec<_> = (0..N)
        .map(|_| {
            let n = rng.below(4) as usize;
            Some(Value::List((0..n).map(|_| Value::Str(cats[rng.below(cats.len() as u64) as usize].into())).collect()))
        })
        .collect();
    // Naive size: the JSON text, e.g. `["news","tech"]`.
    let json = |v: &Option<Value>| match v {
        Some(Value::List(items)) => {
            2 + items.iter().map(|i| if let Value::Str(s) = i { s.len() + 3 } else { 0 }).sum::<usize>()
        }
        _ => 0,
    };
    let naive = tags.iter().map(json).sum();
    report("Any: tag lists of 0-3 categories", ColumnKind::Any, tags, naive);
}
