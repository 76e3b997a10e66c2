//! Search parameters and results.

use crate::{Document, Filter};

/// Parameters of one search.
///
/// ```
/// use vego::{Filter, SearchOptions};
/// let opts = SearchOptions::new(10).filter(Filter::eq("lang", "en")).ef(128);
/// assert_eq!(opts.k, 10);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SearchOptions {
    /// Number of neighbours wanted.
    pub k: usize,
    /// Metadata predicate; only matching documents are returned.
    pub filter: Option<Filter>,
    /// HNSW beam width; `None` = the collection's `ef_search`.
    pub ef: Option<usize>,
    /// Return each hit's document (metadata and vector). Default true.
    pub include_document: bool,
    /// When documents are returned, include their vectors. Default true.
    pub include_vector: bool,
    /// When documents are returned, only these metadata fields (`None` = all).
    /// Segments then read only those columns.
    pub fields: Option<Vec<String>>,
    /// Exact search: a brute-force scan of every visible document that
    /// passes the filter, in every layer, instead of the graph walk. The
    /// answer is the true `k` nearest (ties by layer and row); `ef` is
    /// ignored. Default false.
    pub exact: bool,
}

impl SearchOptions {
    /// `k` nearest neighbours, documents included.
    pub fn new(k: usize) -> Self {
        SearchOptions {
            k,
            filter: None,
            ef: None,
            include_document: true,
            include_vector: true,
            fields: None,
            exact: false,
        }
    }
    /// Only return documents matching `f`.
    pub fn filter(mut self, f: Filter) -> Self {
        self.filter = Some(f);
        self
    }
    /// Search beam width (higher: better recall, slower).
    pub fn ef(mut self, ef: usize) -> Self {
        self.ef = Some(ef);
        self
    }
    /// Whether hits carry their documents.
    pub fn include_document(mut self, on: bool) -> Self {
        self.include_document = on;
        self
    }
    /// Return only these metadata fields with each document.
    pub fn fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.fields = Some(fields.into_iter().map(Into::into).collect());
        self
    }
    /// Exact (brute-force) search instead of the approximate graph walk.
    ///
    /// ```
    /// use vego::SearchOptions;
    /// assert!(SearchOptions::new(10).exact(true).exact);
    /// ```
    pub fn exact(mut self, on: bool) -> Self {
        self.exact = on;
        self
    }
    /// Whether returned documents carry their vectors.
    pub fn include_vector(mut self, on: bool) -> Self {
        self.include_vector = on;
        self
    }
}

/// One search result.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// Document id.
    pub id: String,
    /// Distance to the query; smaller is closer for every metric.
    pub distance: f32,
    /// The document, unless the search asked for less.
    pub document: Option<Document>,
}
