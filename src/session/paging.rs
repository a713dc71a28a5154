//! Paging of a session's lists (newest first): a query string becomes a [`Page`], and a
//! fetched window of rows becomes the answer's `cursor`/`hasMore`.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// A request for one page: rows strictly older than `cursor` (a row sequence number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub cursor: Option<i64>,
    pub limit: u32,
    #[serde(default)]
    pub event_type: Option<String>,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            cursor: None,
            limit: DEFAULT_LIMIT,
            event_type: None,
        }
    }
}

impl Page {
    /// Parses `cursor`, `limit` and `type` from query pairs.
    pub fn from_query<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, ApiError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut page = Page::default();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            match k {
                "cursor" if !v.is_empty() => {
                    page.cursor =
                        Some(v.parse::<i64>().ok().filter(|c| *c > 0).ok_or_else(|| {
                            ApiError::bad_request(
                                "cursor must be a value returned by an earlier page",
                            )
                        })?)
                }
                "limit" => page.limit = parse_limit(v, MAX_LIMIT)?,
                "type" if !v.is_empty() => {
                    crate::validate::text("type", v, 64, false)?;
                    page.event_type = Some(v.to_string());
                }
                _ => {}
            }
        }
        Ok(page)
    }
}

/// Parses a `limit` in `1..=max`.
pub fn parse_limit(v: &str, max: u32) -> Result<u32, ApiError> {
    v.parse::<u32>()
        .ok()
        .filter(|l| (1..=max).contains(l))
        .ok_or_else(|| ApiError::bad_request(format!("limit must be an integer from 1 to {max}")))
}

/// One page of rows with the answer's paging fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window<T> {
    pub rows: Vec<T>,
    /// More rows exist past this page.
    pub has_more: bool,
    /// The cursor for the next page (the sequence number of the last row kept).
    pub cursor: Option<i64>,
}

impl<T> Window<T> {
    /// The same page with each row turned into something else.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Window<U> {
        Window {
            rows: self.rows.into_iter().map(f).collect(),
            has_more: self.has_more,
            cursor: self.cursor,
        }
    }
}

/// The page of rows fetched with `limit + 1`: whether more exist, and the cursor.
pub fn window<T>(mut rows: Vec<T>, limit: u32, seq: impl Fn(&T) -> i64) -> Window<T> {
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let cursor = if has_more { rows.last().map(seq) } else { None };
    Window {
        rows,
        has_more,
        cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_query() {
        let p = Page::from_query([("cursor", "12"), ("limit", "5"), ("type", "token")]).unwrap();
        assert_eq!(p.cursor, Some(12));
        assert_eq!(p.limit, 5);
        assert_eq!(p.event_type.as_deref(), Some("token"));
        assert_eq!(Page::from_query::<&str, &str>([]).unwrap(), Page::default());
        for bad in [
            ("limit", "0"),
            ("limit", "201"),
            ("limit", "x"),
            ("cursor", "-1"),
            ("cursor", "x"),
        ] {
            assert!(Page::from_query([bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn window_sets_cursor_only_when_more() {
        let w = window(vec![9, 8, 7], 2, |r| *r);
        assert_eq!(w.rows, vec![9, 8]);
        assert!(w.has_more);
        assert_eq!(w.cursor, Some(8));
        let w = window(vec![9, 8], 2, |r| *r).map(|r| r * 2);
        assert_eq!(w.rows, vec![18, 16]);
        assert!(!w.has_more);
        assert_eq!(w.cursor, None);
    }
}
