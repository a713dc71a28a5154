//! Paging of a session's lists (newest first): a query string becomes a [`Page`], and a
//! fetched window of rows becomes the answer's `cursor`/`hasMore`.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

use crate::session::model::{MessageStatus, EVENT_TYPES};

/// Which paged list to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Events,
    Messages,
    Artifacts,
    Participants,
}

crate::wire::wire_names!(ListKind {
    Events => "events",
    Messages => "messages",
    Artifacts => "artifacts",
    Participants => "participants",
});

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// A request for one page: rows strictly older than `cursor` (a row sequence number),
/// optionally filtered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub cursor: Option<i64>,
    pub limit: u32,
    /// Events of this type only.
    pub event_type: Option<String>,
    /// Events of this message only.
    pub message_id: Option<String>,
    /// Messages in this state only.
    pub status: Option<MessageStatus>,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            cursor: None,
            limit: DEFAULT_LIMIT,
            event_type: None,
            message_id: None,
            status: None,
        }
    }
}

/// The largest page of each list.
pub fn max_limit(kind: ListKind) -> u32 {
    match kind {
        ListKind::Messages => 100,
        _ => MAX_LIMIT,
    }
}

impl Page {
    /// Parses `cursor`, `limit` (clamped to the list's maximum) and the list's filters
    /// (`type` and `message_id` for events, `status` for messages) from query pairs.
    pub fn from_query<K, V>(
        kind: ListKind,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ApiError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut page = Page::default();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            match (k, kind) {
                ("cursor", _) if !v.is_empty() => {
                    page.cursor =
                        Some(v.parse::<i64>().ok().filter(|c| *c > 0).ok_or_else(|| {
                            ApiError::bad_request(
                                "cursor must be a value returned by an earlier page",
                            )
                        })?)
                }
                ("limit", _) if !v.is_empty() => page.limit = clamp_limit(v, max_limit(kind))?,
                ("type", ListKind::Events) if !v.is_empty() => {
                    if !EVENT_TYPES.contains(&v) {
                        return Err(ApiError::bad_request(format!("unknown event type {v:?}")));
                    }
                    page.event_type = Some(v.to_string());
                }
                ("message_id", ListKind::Events) if !v.is_empty() => {
                    crate::validate::text("message_id", v, 128, false)?;
                    page.message_id = Some(v.to_string());
                }
                ("status", ListKind::Messages) if !v.is_empty() => {
                    let status = MessageStatus::parse(v).ok_or_else(|| {
                        ApiError::bad_request(
                            "status must be pending, processing, completed or failed",
                        )
                    })?;
                    page.status = Some(status);
                }
                _ => {}
            }
        }
        Ok(page)
    }
}

/// Parses a `limit`, clamped into `1..=max` (a number out of range is not an error).
pub fn clamp_limit(v: &str, max: u32) -> Result<u32, ApiError> {
    let n = v
        .trim()
        .parse::<i64>()
        .map_err(|_| ApiError::bad_request("limit must be an integer"))?;
    Ok(n.clamp(1, i64::from(max)) as u32)
}

/// One page of rows with the answer's paging fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window<T> {
    pub rows: Vec<T>,
    /// More rows exist past this page.
    pub has_more: bool,
    /// The cursor for the next page (the sequence number of the last row kept), set when
    /// the page is not empty.
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

/// The end of a query that fetches a page of `limit` rows and one more, for [`window`].
pub fn fetch_limit(limit: u32) -> String {
    crate::rows::limit(i64::from(limit) + 1)
}

/// The page of rows fetched with `limit + 1` ([`fetch_limit`]): whether more exist, and the
/// cursor (the last row's, whenever the page is not empty).
pub fn window<T>(mut rows: Vec<T>, limit: u32, seq: impl Fn(&T) -> i64) -> Window<T> {
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let cursor = rows.last().map(seq);
    Window {
        rows,
        has_more,
        cursor,
    }
}

/// The most bytes of stored event text one page carries (a replay, a history page, a page of
/// `GET /events`): past it the page ends early, with `hasMore`.
pub const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// [`window`], then cut where the rows' sizes add up past `budget` bytes (the first row is
/// always kept): a page bounded by bytes as well as by count.
pub fn window_within<T>(
    rows: Vec<T>,
    limit: u32,
    budget: usize,
    size: impl Fn(&T) -> usize,
    seq: impl Fn(&T) -> i64,
) -> Window<T> {
    let mut w = window(rows, limit, &seq);
    let mut total = 0;
    let over = w.rows.iter().position(|r| {
        total += size(r);
        total > budget
    });
    if let Some(at) = over {
        w.rows.truncate(at.max(1));
        w.has_more = true;
        w.cursor = w.rows.last().map(&seq);
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_bounded_by_bytes_too() {
        // Rows are (seq, size).
        let rows = vec![(9, 400), (8, 400), (7, 400), (6, 400)];
        let w = window_within(rows.clone(), 3, 1_000, |r| r.1, |r| r.0);
        assert_eq!(w.rows, vec![(9, 400), (8, 400)]);
        assert_eq!((w.has_more, w.cursor), (true, Some(8)));
        // One row larger than the budget still makes a page: no page is ever empty.
        let w = window_within(vec![(5, 5_000), (4, 1)], 3, 1_000, |r| r.1, |r| r.0);
        assert_eq!((w.rows.len(), w.has_more, w.cursor), (1, true, Some(5)));
        // Within budget it is the count window.
        let w = window_within(rows, 3, 10_000, |r| r.1, |r| r.0);
        assert_eq!((w.rows.len(), w.has_more, w.cursor), (3, true, Some(7)));
    }

    #[test]
    fn parses_query() {
        let q = [
            ("cursor", "12"),
            ("limit", "5"),
            ("type", "token"),
            ("message_id", "m1"),
        ];
        let p = Page::from_query(ListKind::Events, q).unwrap();
        assert_eq!(p.cursor, Some(12));
        assert_eq!(p.limit, 5);
        assert_eq!(p.event_type.as_deref(), Some("token"));
        assert_eq!(p.message_id.as_deref(), Some("m1"));
        // Events the session writes itself can be asked for too.
        let pushed = Page::from_query(ListKind::Events, [("type", "branch_pushed")]).unwrap();
        assert_eq!(pushed.event_type.as_deref(), Some("branch_pushed"));
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            Page::from_query(ListKind::Events, none).unwrap(),
            Page::default()
        );
        let m = Page::from_query(ListKind::Messages, [("status", "failed"), ("limit", "500")]);
        let m = m.unwrap();
        assert_eq!((m.status, m.limit), (Some(MessageStatus::Failed), 100));
        for bad in [
            ("limit", "x"),
            ("cursor", "-1"),
            ("cursor", "x"),
            ("type", "no_such_event"),
        ] {
            assert!(
                Page::from_query(ListKind::Events, [bad]).is_err(),
                "{bad:?}"
            );
        }
        assert!(Page::from_query(ListKind::Messages, [("status", "done")]).is_err());
    }

    #[test]
    fn limits_are_clamped_not_refused() {
        assert_eq!(clamp_limit("0", 200).unwrap(), 1);
        assert_eq!(clamp_limit("-3", 200).unwrap(), 1);
        assert_eq!(clamp_limit("201", 200).unwrap(), 200);
        assert_eq!(clamp_limit("99999999999999999", 100).unwrap(), 100);
        assert!(clamp_limit("ten", 100).is_err());
    }

    #[test]
    fn window_sets_cursor_when_not_empty() {
        let w = window(vec![9, 8, 7], 2, |r| *r);
        assert_eq!(w.rows, vec![9, 8]);
        assert!(w.has_more);
        assert_eq!(w.cursor, Some(8));
        let w = window(vec![9, 8], 2, |r| *r).map(|r| r * 2);
        assert_eq!(w.rows, vec![18, 16]);
        assert!(!w.has_more);
        assert_eq!(w.cursor, Some(8));
        let w = window(Vec::<i64>::new(), 2, |r| *r);
        assert_eq!((w.has_more, w.cursor), (false, None));
    }
}
