//! Qdrant point ids (unsigned integers or UUIDs) and the document ids they
//! are stored under: the decimal integer, or the lowercase hyphenated UUID.
//! Both forms are canonical, so a stored id maps back to exactly one point id.

use serde_json::Value as Json;

use super::error::ApiError;

/// A point id as the API sees it, ordered as Qdrant orders them: integers
/// first, then UUIDs; ids written through the library in another form last.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PointId {
    Num(u64),
    Uuid(uuid::Uuid),
    /// A document id that is neither (written by the embedded API).
    Other(String),
}

impl PointId {
    /// Parses a request's id: a JSON unsigned integer or a UUID string in any
    /// of its spellings.
    pub fn from_json(v: &Json) -> Result<PointId, ApiError> {
        match v {
            Json::Number(n) => n
                .as_u64()
                .map(PointId::Num)
                .ok_or_else(|| ApiError::bad_request(format!("point id {n} is not an unsigned integer"))),
            Json::String(s) => uuid::Uuid::parse_str(s).map(PointId::Uuid).map_err(|_| {
                ApiError::bad_request(format!("point id {s:?} is neither an unsigned integer nor a UUID"))
            }),
            other => Err(ApiError::bad_request(format!("point id must be an unsigned integer or a UUID, got {other}"))),
        }
    }

    /// The point id of a stored document id.
    pub fn from_doc_id(id: &str) -> PointId {
        if is_canonical_integer(id) {
            if let Ok(n) = id.parse::<u64>() {
                return PointId::Num(n);
            }
        }
        if is_canonical_uuid(id) {
            if let Ok(u) = uuid::Uuid::try_parse(id) {
                return PointId::Uuid(u);
            }
        }
        PointId::Other(id.to_owned())
    }

    /// The document id this point is stored under.
    pub fn doc_id(&self) -> String {
        match self {
            PointId::Num(n) => n.to_string(),
            PointId::Uuid(u) => u.hyphenated().to_string(),
            PointId::Other(s) => s.clone(),
        }
    }

    /// As the API returns it.
    pub fn to_json(&self) -> Json {
        match self {
            PointId::Num(n) => Json::from(*n),
            other => Json::String(other.doc_id()),
        }
    }
}

/// Digits without a leading zero (`"0"` itself is canonical): the form
/// `u64::to_string` writes. Checked without allocating, as scroll maps every id.
fn is_canonical_integer(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty() && b.iter().all(u8::is_ascii_digit) && (b[0] != b'0' || b.len() == 1)
}

/// Lowercase hyphenated (`8-4-4-4-12`): the form `Uuid::hyphenated` writes.
fn is_canonical_uuid(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_document_ids() {
        let ids = [
            serde_json::json!(0),
            serde_json::json!(u64::MAX),
            serde_json::json!("5C56C793-69F3-4FBF-87E6-C4BF54C28C26"),
            serde_json::json!("5c56c79369f34fbf87e6c4bf54c28c26"),
        ];
        for raw in ids {
            let id = PointId::from_json(&raw).unwrap();
            assert_eq!(PointId::from_doc_id(&id.doc_id()), id, "{raw}");
        }
        assert_eq!(
            PointId::from_json(&serde_json::json!("5C56C793-69F3-4FBF-87E6-C4BF54C28C26")).unwrap().doc_id(),
            "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"
        );
    }

    #[test]
    fn bad_ids_are_refused() {
        for raw in [serde_json::json!(-1), serde_json::json!(1.5), serde_json::json!("abc"), serde_json::json!(null)] {
            assert!(PointId::from_json(&raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn order_is_integers_then_uuids_then_others() {
        let mut ids = [
            PointId::from_doc_id("01J0000000000000000000000"),
            PointId::from_doc_id("5c56c793-69f3-4fbf-87e6-c4bf54c28c26"),
            PointId::from_doc_id("10"),
            PointId::from_doc_id("9"),
            PointId::from_doc_id("007"),
            PointId::from_doc_id("5C56C793-69F3-4FBF-87E6-C4BF54C28C26"),
            PointId::from_doc_id("99999999999999999999"),
        ];
        ids.sort();
        let json: Vec<Json> = ids.iter().map(PointId::to_json).collect();
        assert_eq!(
            json,
            [
                serde_json::json!(9),
                serde_json::json!(10),
                serde_json::json!("5c56c793-69f3-4fbf-87e6-c4bf54c28c26"),
                serde_json::json!("007"),
                serde_json::json!("01J0000000000000000000000"),
                serde_json::json!("5C56C793-69F3-4FBF-87E6-C4BF54C28C26"),
                serde_json::json!("99999999999999999999"),
            ]
        );
    }
}
