//! Qdrant's payload paths (`a.b`, `a[].b`, `a[0]`, `"key.with.dots"`), parsed
//! exactly as Qdrant parses them, and their canonical spelling, which is how
//! `payload.rs` names the metadata field it indexes a path's values under.
//!
//! A key step is written bare when it consists of letters, digits, `_` and
//! `-` (Qdrant's unquoted keys), else in double quotes; so the payload key
//! `"a.b"` and the nested path `a.b` never share a field.

use super::error::ApiError;

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// An object key.
    Key(String),
    /// `[n]`: the n-th element of an array.
    Index(u64),
    /// `[]`: every element of an array.
    All,
}

/// Whether Qdrant accepts `k` as an unquoted key.
fn is_bare_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// Parses a path as Qdrant does (`json_path_parser`: keys bare or quoted,
/// each followed by any number of `[]` / `[n]`, separated by dots).
pub(crate) fn parse(path: &str) -> Result<Vec<Step>, ApiError> {
    let bad = || ApiError::bad_request(format!("Bad Request: invalid payload path {:?}", truncated(path)));
    let mut steps = Vec::new();
    let mut rest = path;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        // A key, quoted or bare.
        if let Some(after) = rest.strip_prefix('"') {
            let end = after.find('"').ok_or_else(bad)?;
            steps.push(Step::Key(after[..end].to_owned()));
            rest = &after[end + 1..];
        } else {
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).unwrap_or(rest.len());
            if end == 0 {
                return Err(bad());
            }
            steps.push(Step::Key(rest[..end].to_owned()));
            rest = &rest[end..];
        }
        // Brackets.
        while let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(bad)?;
            let inside = &after[..end];
            if inside.is_empty() {
                steps.push(Step::All);
            } else if inside.bytes().all(|b| b.is_ascii_digit()) {
                steps.push(Step::Index(inside.parse().map_err(|_| bad())?));
            } else {
                return Err(bad());
            }
            rest = &after[end + 1..];
        }
        // A separator, then more.
        if rest.is_empty() {
            break;
        }
        if rest.len() == 1 {
            return Err(bad());
        }
        rest = rest.strip_prefix('.').ok_or_else(bad)?;
    }
    Ok(steps)
}

/// The canonical spelling of a path (`None` if a key holds a double quote,
/// which no path can name).
pub(crate) fn canonical(steps: &[Step]) -> Option<String> {
    let mut out = String::new();
    for s in steps {
        match s {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if is_bare_key(k) {
                    out.push_str(k);
                } else if k.contains('"') {
                    return None;
                } else {
                    out.push('"');
                    out.push_str(k);
                    out.push('"');
                }
            }
            Step::Index(n) => out.push_str(&format!("[{n}]")),
            Step::All => out.push_str("[]"),
        }
    }
    Some(out)
}

/// The first 40 characters of `s`, for messages.
pub(crate) fn truncated(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Step {
        Step::Key(k.to_owned())
    }

    #[test]
    fn paths_parse_as_qdrant_parses_them() {
        assert_eq!(parse("a").unwrap(), [key("a")]);
        assert_eq!(parse("a.b-c_d").unwrap(), [key("a"), key("b-c_d")]);
        assert_eq!(parse("a[0][1].b").unwrap(), [key("a"), Step::Index(0), Step::Index(1), key("b")]);
        assert_eq!(parse("a[][]").unwrap(), [key("a"), Step::All, Step::All]);
        assert_eq!(parse("\"a.b\"[].c").unwrap(), [key("a.b"), Step::All, key("c")]);
        assert_eq!(parse("\"\"").unwrap(), [key("")]);
        assert!(parse("ü✓").is_err(), "✓ is not alphanumeric");
        for bad in ["", ".a", "a.", "a..b", "a b", "a[x]", "a[-1]", "a[", "\"a", "a]", "a.[0]"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn canonical_spelling_quotes_what_is_not_bare() {
        let c = |p: &str| canonical(&parse(p).unwrap()).unwrap();
        assert_eq!(c("a.b"), "a.b");
        assert_eq!(c("\"a\".\"b\""), "a.b");
        assert_eq!(c("\"a.b\""), "\"a.b\"");
        assert_eq!(c("x[].\"y z\"[3]"), "x[].\"y z\"[3]");
        assert_eq!(canonical(&[key("a\"b")]), None);
    }
}
