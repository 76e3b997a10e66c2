//! Metadata filters and their evaluation.
//!
//! Semantics: comparisons between an `Int` and a `Float` are numeric; strings
//! compare lexicographically by bytes; a comparison against a value of another
//! type is false. A `List` field matches a comparison if any element does. A
//! missing field matches nothing except `exists` negated and `ne`/`not_in`
//! (which are `not(eq)` / `not(in_)`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use crate::model::error::invalid;
use crate::model::limits::NESTING_MAX;
use crate::{Result, Value};

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=` (also true when the field is missing)
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

/// A predicate over a document's metadata.
///
/// ```
/// use vego::Filter;
/// let f = Filter::eq("author", "Alice").and(Filter::gte("year", 2020)).or(Filter::exists("pinned"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `field op value`.
    Cmp {
        /// Field name.
        field: String,
        /// Operator.
        op: Op,
        /// Operand.
        value: Value,
    },
    /// `field` equals one of `values`.
    In {
        /// Field name.
        field: String,
        /// Candidates.
        values: Vec<Value>,
    },
    /// The field is present (and not null).
    Exists(String),
    /// Typed, element-wise membership (the semantics of Qdrant's `match`):
    /// values equal only values of the same type (an `Int` never equals a
    /// `Float`), and a list field is tested element by element. Without
    /// `except`: some value of the field equals one of `values`. With
    /// `except`: some non-null value of the field equals none of them (false
    /// when the field is missing, null or an empty list).
    Match {
        /// Field name.
        field: String,
        /// Candidates.
        values: Vec<Value>,
        /// Match values *not* among the candidates.
        except: bool,
    },
    /// Some numeric value of the field (an `Int` or `Float`; a list is
    /// tested element by element) lies within both bounds: one element must
    /// satisfy both, unlike `gt(..).and(lt(..))`, where different elements
    /// of a list may satisfy each (Qdrant's `range`).
    Range {
        /// Field name.
        field: String,
        /// Lower bound.
        lower: Bound<f64>,
        /// Upper bound.
        upper: Bound<f64>,
    },
    /// The document's id is one of these (Qdrant's `has_id`). Decided by
    /// the id, not the metadata: [`Filter::matches`] (metadata only) never
    /// matches it; [`Filter::matches_document`] does.
    Ids(BTreeSet<String>),
    /// All must match.
    And(Vec<Filter>),
    /// Any must match.
    Or(Vec<Filter>),
    /// Negation.
    Not(Box<Filter>),
}

macro_rules! cmp_ctor {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {
        impl Filter {
            $($(#[$doc])* pub fn $name(field: &str, v: impl Into<Value>) -> Filter {
                Filter::Cmp { field: field.to_owned(), op: Op::$op, value: v.into() }
            })*
        }
    };
}
cmp_ctor! {
    /// `field == v` (for a list field: any element equals `v`).
    eq => Eq;
    /// `field != v` (true when the field is missing).
    ne => Ne;
    /// `field > v`.
    gt => Gt;
    /// `field >= v`.
    gte => Gte;
    /// `field < v`.
    lt => Lt;
    /// `field <= v`.
    lte => Lte;
}

impl Filter {
    /// `field` equals any of `vs`.
    pub fn in_(field: &str, vs: impl IntoIterator<Item = impl Into<Value>>) -> Filter {
        Filter::In { field: field.to_owned(), values: vs.into_iter().map(Into::into).collect() }
    }
    /// `field` equals none of `vs` (true when the field is missing).
    pub fn not_in(field: &str, vs: impl IntoIterator<Item = impl Into<Value>>) -> Filter {
        Filter::in_(field, vs).not()
    }
    /// `field` is present and not null.
    pub fn exists(field: &str) -> Filter {
        Filter::Exists(field.to_owned())
    }
    /// Some value of `field` (a list is tested element by element) equals
    /// one of `vs` with the same type: `Int(3)` does not match `Float(3.0)`.
    pub fn match_any(field: &str, vs: impl IntoIterator<Item = impl Into<Value>>) -> Filter {
        Filter::Match { field: field.to_owned(), values: vs.into_iter().map(Into::into).collect(), except: false }
    }
    /// Some non-null value of `field` (a list is tested element by element)
    /// equals none of `vs` (typed as in `match_any`); false when the field is
    /// missing, null or an empty list.
    pub fn match_except(field: &str, vs: impl IntoIterator<Item = impl Into<Value>>) -> Filter {
        Filter::Match { field: field.to_owned(), values: vs.into_iter().map(Into::into).collect(), except: true }
    }
    /// Some numeric value of `field` lies within `lower` and `upper`.
    ///
    /// ```
    /// use std::ops::Bound;
    /// use vego::{Filter, Value};
    /// let f = Filter::range("n", Bound::Excluded(1.0), Bound::Excluded(2.0));
    /// let list = [("n".to_string(), Value::List(vec![Value::Int(1), Value::Int(4)]))].into();
    /// assert!(!f.matches(&list), "no one element is in (1, 2)");
    /// assert!(f.matches(&[("n".to_string(), Value::Float(1.5))].into()));
    /// ```
    pub fn range(field: &str, lower: Bound<f64>, upper: Bound<f64>) -> Filter {
        Filter::Range { field: field.to_owned(), lower, upper }
    }
    /// The document's id is one of `ids`.
    ///
    /// ```
    /// use vego::Filter;
    /// let f = Filter::ids(["a", "b"]);
    /// assert!(f.matches_document("a", &Default::default()));
    /// assert!(!f.matches_document("c", &Default::default()));
    /// ```
    pub fn ids(ids: impl IntoIterator<Item = impl Into<String>>) -> Filter {
        Filter::Ids(ids.into_iter().map(Into::into).collect())
    }
    /// Both must match.
    pub fn and(self, o: Filter) -> Filter {
        match self {
            Filter::And(mut v) => {
                v.push(o);
                Filter::And(v)
            }
            s => Filter::And(vec![s, o]),
        }
    }
    /// Either must match.
    pub fn or(self, o: Filter) -> Filter {
        match self {
            Filter::Or(mut v) => {
                v.push(o);
                Filter::Or(v)
            }
            s => Filter::Or(vec![s, o]),
        }
    }
    /// Negation.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }

    /// Refuses NaN operands, empty field names and absurd nesting.
    pub(crate) fn validate(&self) -> Result<()> {
        self.validate_at(0)
    }

    fn validate_at(&self, depth: usize) -> Result<()> {
        if depth > NESTING_MAX {
            return Err(invalid(format!("filter nested deeper than {NESTING_MAX}")));
        }
        let field_ok = |f: &str| {
            if f.is_empty() {
                Err(invalid("filter field name is empty"))
            } else {
                Ok(())
            }
        };
        match self {
            Filter::Cmp { field, value, .. } => {
                field_ok(field)?;
                check_operand(value)
            }
            Filter::In { field, values } => {
                field_ok(field)?;
                values.iter().try_for_each(check_operand)
            }
            Filter::Exists(field) => field_ok(field),
            Filter::Ids(_) => Ok(()),
            Filter::Range { field, lower, upper } => {
                field_ok(field)?;
                for b in [lower, upper] {
                    if let Bound::Included(x) | Bound::Excluded(x) = b {
                        check_operand(&Value::Float(*x))?;
                    }
                }
                Ok(())
            }
            Filter::Match { field, values, .. } => {
                field_ok(field)?;
                values.iter().try_for_each(check_operand)
            }
            Filter::And(fs) | Filter::Or(fs) => fs.iter().try_for_each(|f| f.validate_at(depth + 1)),
            Filter::Not(f) => f.validate_at(depth + 1),
        }
    }

    /// Evaluates the filter against a document's metadata alone: an
    /// [`Filter::Ids`] leaf, which needs the id, is false here (use
    /// [`Filter::matches_document`]).
    pub fn matches(&self, metadata: &BTreeMap<String, Value>) -> bool {
        self.eval(None, metadata)
    }

    /// Evaluates the filter against a document: its id and its metadata.
    pub fn matches_document(&self, id: &str, metadata: &BTreeMap<String, Value>) -> bool {
        self.eval(Some(id), metadata)
    }

    fn eval(&self, id: Option<&str>, metadata: &BTreeMap<String, Value>) -> bool {
        match self {
            Filter::And(fs) => fs.iter().all(|f| f.eval(id, metadata)),
            Filter::Or(fs) => fs.iter().any(|f| f.eval(id, metadata)),
            Filter::Not(f) => !f.eval(id, metadata),
            Filter::Ids(ids) => id.is_some_and(|id| ids.contains(id)),
            leaf => leaf.leaf_matches(metadata.get(leaf.field().expect("leaves name a field"))),
        }
    }

    /// The field a leaf (comparison, `in`, `exists`, `match`) tests; `None`
    /// for combinators and id sets.
    pub(crate) fn field(&self) -> Option<&str> {
        match self {
            Filter::Cmp { field, .. }
            | Filter::In { field, .. }
            | Filter::Exists(field)
            | Filter::Range { field, .. }
            | Filter::Match { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Evaluates a leaf against its field's value (`None` = field absent).
    pub(crate) fn leaf_matches(&self, value: Option<&Value>) -> bool {
        match self {
            Filter::Cmp { op: Op::Ne, value: operand, .. } => !any_elem(value, |v| compare_is(v, operand, Op::Eq)),
            Filter::Cmp { op, value: operand, .. } => any_elem(value, |v| compare_is(v, operand, *op)),
            Filter::In { values, .. } => any_elem(value, |v| values.iter().any(|c| compare_is(v, c, Op::Eq))),
            Filter::Exists(_) => !matches!(value, None | Some(Value::Null)),
            Filter::Range { lower, upper, .. } => any_elem(value, |v| {
                let x = match v {
                    Value::Int(i) => *i as f64,
                    Value::Float(f) => *f,
                    _ => return false,
                };
                let above = match lower {
                    Bound::Included(b) => x >= *b,
                    Bound::Excluded(b) => x > *b,
                    Bound::Unbounded => true,
                };
                let below = match upper {
                    Bound::Included(b) => x <= *b,
                    Bound::Excluded(b) => x < *b,
                    Bound::Unbounded => true,
                };
                above && below
            }),
            Filter::Match { values, except: false, .. } => any_elem(value, |v| values.iter().any(|c| same_typed(v, c))),
            Filter::Match { values, except: true, .. } => {
                any_elem(value, |v| *v != Value::Null && !values.iter().any(|c| same_typed(v, c)))
            }
            _ => unreachable!("leaf_matches on a combinator"),
        }
    }
}

fn check_operand(v: &Value) -> Result<()> {
    match v {
        Value::Float(f) if !f.is_finite() => Err(invalid("filter operand is NaN or infinite")),
        Value::List(_) => Err(invalid("filter operand cannot be a list (use in_)")),
        _ => Ok(()),
    }
}

/// Applies `pred` to a scalar field, or to each element of a list field.
fn any_elem(field: Option<&Value>, pred: impl Fn(&Value) -> bool) -> bool {
    match field {
        None => false,
        Some(Value::List(items)) => items.iter().any(pred),
        Some(v) => pred(v),
    }
}

/// Equality without numeric conversion between `Int` and `Float`.
fn same_typed(stored: &Value, operand: &Value) -> bool {
    match (stored, operand) {
        (Value::Int(_), Value::Float(_)) | (Value::Float(_), Value::Int(_)) => false,
        _ => compare_is(stored, operand, Op::Eq),
    }
}

fn compare_is(stored: &Value, operand: &Value, op: Op) -> bool {
    let Some(ord) = compare(stored, operand) else { return false };
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Gt => ord == Ordering::Greater,
        Op::Gte => ord != Ordering::Less,
        Op::Lt => ord == Ordering::Less,
        Op::Lte => ord != Ordering::Greater,
    }
}

/// Orders two scalars of compatible types; `None` if incomparable.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    use Value::*;
    match (a, b) {
        (Null, Null) => Some(Ordering::Equal),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Float(x), Float(y)) => x.partial_cmp(y),
        (Int(x), Float(y)) => (*x as f64).partial_cmp(y),
        (Float(x), Int(y)) => x.partial_cmp(&(*y as f64)),
        (Str(x), Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn comparisons_follow_documented_semantics() {
        let m = meta(&[("year", Value::Int(2021)), ("score", Value::Float(0.5)), ("author", "Alice".into())]);
        assert!(Filter::eq("author", "Alice").matches(&m));
        assert!(!Filter::eq("author", "Bob").matches(&m));
        assert!(Filter::gte("year", 2021).matches(&m) && !Filter::gt("year", 2021).matches(&m));
        assert!(Filter::lt("year", 2021.5).matches(&m), "int vs float compares numerically");
        assert!(Filter::lte("score", 0.5).matches(&m));
        assert!(!Filter::eq("year", "2021").matches(&m), "type mismatch is false");
        assert!(Filter::ne("missing", 1).matches(&m), "ne is true on a missing field");
        assert!(!Filter::gt("missing", 1).matches(&m));
        assert!(Filter::in_("author", ["Bob", "Alice"]).matches(&m));
        assert!(Filter::not_in("author", ["Bob"]).matches(&m));
        assert!(Filter::exists("year").matches(&m) && !Filter::exists("nope").matches(&m));
    }

    #[test]
    fn list_fields_match_any_element() {
        let m = meta(&[("tags", Value::from(vec!["a", "b"]))]);
        assert!(Filter::eq("tags", "b").matches(&m));
        assert!(!Filter::eq("tags", "c").matches(&m));
        assert!(Filter::ne("tags", "c").matches(&m));
        assert!(!Filter::ne("tags", "a").matches(&m));
    }

    #[test]
    fn match_is_typed_and_element_wise() {
        let m = meta(&[("n", Value::Int(3)), ("f", Value::Float(3.0)), ("tags", Value::from(vec!["red", "blue"]))]);
        assert!(Filter::match_any("n", [3]).matches(&m));
        assert!(!Filter::match_any("f", [3]).matches(&m), "an integer does not match a float");
        assert!(Filter::eq("f", 3).matches(&m), "eq stays numeric");
        assert!(Filter::match_any("tags", ["blue", "green"]).matches(&m));
        assert!(Filter::match_except("tags", ["red", "green"]).matches(&m), "blue is not listed");
        assert!(!Filter::match_except("tags", ["red", "blue"]).matches(&m));
        assert!(Filter::match_except("f", [3]).matches(&m), "a float is not among integers");
        assert!(!Filter::match_except("missing", ["x"]).matches(&m));
        let empty = meta(&[("tags", Value::List(vec![])), ("z", Value::Null)]);
        assert!(!Filter::match_except("tags", ["x"]).matches(&empty));
        assert!(!Filter::match_except("z", ["x"]).matches(&empty));
    }

    #[test]
    fn boolean_combinators() {
        let m = meta(&[("a", Value::Int(1)), ("b", Value::Int(2))]);
        let t = Filter::eq("a", 1);
        let f = Filter::eq("b", 3);
        assert!(!t.clone().and(f.clone()).matches(&m));
        assert!(t.clone().or(f.clone()).matches(&m));
        assert!(f.clone().not().matches(&m));
        assert!(Filter::exists("a").and(Filter::exists("b")).and(t).matches(&m));
    }

    #[test]
    fn invalid_filters_are_refused() {
        assert!(Filter::eq("x", f64::NAN).validate().is_err());
        assert!(Filter::eq("", 1).validate().is_err());
        assert!(Filter::eq("x", vec![1]).validate().is_err());
        let mut deep = Filter::exists("x");
        for _ in 0..40 {
            deep = deep.not();
        }
        assert!(deep.validate().is_err());
        assert!(Filter::eq("x", 1).and(Filter::in_("y", [1, 2])).validate().is_ok());
    }
}
