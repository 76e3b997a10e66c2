//! JSON on the command line: metadata values, vectors and filters.
//!
//! Filter syntax (`--filter`):
//!
//! ```text
//! {"field": {"eq": v}}           ops: eq ne gt gte lt lte in not_in exists
//! {"field": v}                   shorthand for eq (v not an object)
//! {"a": {...}, "b": {...}}       several fields (or ops): all must match
//! {"$and": [f, …]}  {"$or": [f, …]}  {"$not": f}
//! ```

use serde_json::Value as Json;
use vego::{Filter, Value};

/// A JSON value as a metadata value; objects are not metadata.
pub fn to_value(j: &Json) -> Result<Value, String> {
    Ok(match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().ok_or_else(|| format!("number {n} is out of range"))?),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(a) => Value::List(a.iter().map(to_value).collect::<Result<_, _>>()?),
        Json::Object(_) => return Err("nested objects are not supported as metadata values".into()),
    })
}

/// A metadata value as JSON.
pub fn from_value(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.clone()),
        Value::List(l) => Json::Array(l.iter().map(from_value).collect()),
    }
}

/// Parses `[0.1, 0.2, …]` into a vector of finite numbers.
pub fn parse_vector(text: &str) -> Result<Vec<f32>, String> {
    let j: Json = serde_json::from_str(text).map_err(|e| format!("--vector is not valid JSON: {e}"))?;
    let Json::Array(items) = j else { return Err("--vector must be a JSON array of numbers".into()) };
    if items.is_empty() {
        return Err("--vector is empty".into());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, x)| match x.as_f64() {
            Some(f) if (f as f32).is_finite() => Ok(f as f32),
            _ => Err(format!("--vector component {i} ({x}) is not a finite number")),
        })
        .collect()
}

/// Parses a `--filter` argument.
pub fn parse_filter(text: &str) -> Result<Filter, String> {
    let j: Json = serde_json::from_str(text).map_err(|e| format!("--filter is not valid JSON: {e}"))?;
    filter(&j, 0)
}

const DEPTH_MAX: usize = 32;

fn filter(j: &Json, depth: usize) -> Result<Filter, String> {
    if depth > DEPTH_MAX {
        return Err(format!("filter nested deeper than {DEPTH_MAX} levels"));
    }
    let Json::Object(map) = j else { return Err(format!("a filter must be a JSON object, got {j}")) };
    if map.is_empty() {
        return Err("empty filter object".into());
    }
    let mut parts = Vec::new();
    for (key, v) in map {
        parts.push(match key.as_str() {
            "$and" | "$or" => {
                let Json::Array(items) = v else { return Err(format!("{key} takes an array of filters")) };
                if items.is_empty() {
                    return Err(format!("{key} needs at least one filter"));
                }
                let fs = items.iter().map(|f| filter(f, depth + 1)).collect::<Result<Vec<_>, _>>()?;
                let combine = if key == "$and" { Filter::and } else { Filter::or };
                fs.into_iter().reduce(combine).expect("non-empty")
            }
            "$not" => filter(v, depth + 1)?.not(),
            field => field_filter(field, v)?,
        });
    }
    Ok(parts.into_iter().reduce(Filter::and).expect("non-empty"))
}

fn field_filter(field: &str, v: &Json) -> Result<Filter, String> {
    let Json::Object(ops) = v else {
        return Ok(Filter::eq(field, to_value(v).map_err(|e| format!("{field}: {e}"))?));
    };
    if ops.is_empty() {
        return Err(format!("{field}: no operator (use eq ne gt gte lt lte in not_in exists)"));
    }
    let mut parts = Vec::new();
    for (op, operand) in ops {
        let value = || to_value(operand).map_err(|e| format!("{field}.{op}: {e}"));
        let list = || match operand {
            Json::Array(items) => {
                items.iter().map(to_value).collect::<Result<Vec<_>, _>>().map_err(|e| format!("{field}.{op}: {e}"))
            }
            _ => Err(format!("{field}.{op} takes an array")),
        };
        parts.push(match op.as_str() {
            "eq" => Filter::eq(field, value()?),
            "ne" => Filter::ne(field, value()?),
            "gt" => Filter::gt(field, value()?),
            "gte" => Filter::gte(field, value()?),
            "lt" => Filter::lt(field, value()?),
            "lte" => Filter::lte(field, value()?),
            "in" => Filter::in_(field, list()?),
            "not_in" | "nin" => Filter::not_in(field, list()?),
            "exists" => match operand {
                Json::Bool(true) => Filter::exists(field),
                Json::Bool(false) => Filter::exists(field).not(),
                _ => return Err(format!("{field}.exists takes true or false")),
            },
            other => {
                return Err(format!("{field}: unknown operator {other:?} (use eq ne gt gte lt lte in not_in exists)"))
            }
        });
    }
    Ok(parts.into_iter().reduce(Filter::and).expect("non-empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_into_the_api_filters() {
        assert_eq!(parse_filter(r#"{"lang": {"eq": "en"}}"#).unwrap(), Filter::eq("lang", "en"));
        assert_eq!(parse_filter(r#"{"lang": "en"}"#).unwrap(), Filter::eq("lang", "en"));
        assert_eq!(
            parse_filter(r#"{"year": {"gte": 2020, "lt": 2024}}"#).unwrap(),
            Filter::gte("year", 2020).and(Filter::lt("year", 2024))
        );
        assert_eq!(
            parse_filter(r#"{"$or": [{"a": 1}, {"$not": {"b": {"in": [1, 2.5]}}}]}"#).unwrap(),
            Filter::eq("a", 1).or(Filter::in_("b", [Value::Int(1), Value::Float(2.5)]).not())
        );
        assert_eq!(parse_filter(r#"{"x": {"exists": true}}"#).unwrap(), Filter::exists("x"));
    }

    #[test]
    fn bad_filters_and_vectors_are_refused_with_a_reason() {
        for bad in ["", "[]", "{}", r#"{"a": {"like": 1}}"#, r#"{"a": {"in": 1}}"#, r#"{"$and": []}"#, r#"{"a": {}}"#] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
        assert!(parse_vector("[1, 2]").is_ok());
        for bad in ["", "[]", "{}", "[1, \"x\"]", "[1e60]"] {
            assert!(parse_vector(bad).is_err(), "{bad}");
        }
    }
}
