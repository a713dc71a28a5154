//! The session's record: `events` (stored once under a stable id when one exists) and
//! `artifacts`, and the paged lists of every table.

use crate::raw::Raw;
use serde_json::Value;
use worker::SqlStorageValue as V;

use super::{opt, opt_str, Store, PARTICIPANT_COLUMNS};
use crate::error::{ApiError, ApiResult};
use crate::session::model::{
    ArtifactKind, ArtifactRow, EventRow, Listed, MessageRow, ParticipantRow,
};
use crate::session::paging::ListKind;
use crate::session::paging::{fetch_limit, window, window_within, Page, Window, MAX_PAGE_BYTES};
use crate::webhooks::DELIVERY_MEMORY_MS;

/// An event kept in memory until the next batch write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    pub id: String,
    pub kind: String,
    pub data: String,
    pub message_id: Option<String>,
    pub replace: bool,
    pub at: i64,
}

/// Events kept in memory at most; one more writes the batch at once.
const MAX_PENDING_EVENTS: usize = 256;
/// The most bytes of event text one batch statement carries (SQLite refuses a string over
/// 2 MB; the batch is one string); pending events past it are written at once.
const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// The pending events cut into consecutive batches of at most `max` bytes of text each (an
/// event larger than that alone), given each event's size.
fn batches(sizes: &[usize], max: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut total) = (0, 0);
    for (i, size) in sizes.iter().enumerate() {
        if i > start && total + size > max {
            out.push(start..i);
            (start, total) = (i, 0);
        }
        total += size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// The conflict clause of an event that replaces its earlier self (a literal, so
/// [`INSERT_BATCH`] is built from the same text as [`REPLACE`]).
macro_rules! replace_clause {
    () => {
        "ON CONFLICT(id) DO UPDATE SET data = excluded.data, created_at = excluded.created_at"
    };
}

/// A repeated event id replaces the stored event, or keeps it.
const REPLACE: &str = replace_clause!();
const KEEP: &str = "ON CONFLICT(id) DO NOTHING";

/// Inserts a batch of events given as one JSON array of `[id, type, data, message_id,
/// created_at, replace]` rows, in order: a repeated id replaces the stored event when its row
/// says so, and is dropped otherwise (as [`REPLACE`] and [`KEEP`] do for one event).
const INSERT_BATCH: &str = concat!(
    "INSERT INTO events (id, type, data, message_id, created_at)
     SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4
     FROM json_each(?) AS row
     WHERE value ->> 5 OR NOT EXISTS (SELECT 1 FROM events WHERE id = row.value ->> 0)
     ORDER BY row.key ",
    replace_clause!()
);

/// One row of [`INSERT_BATCH`].
type BatchRow<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, i64, bool);

/// The rows of [`INSERT_BATCH`] for `pending`.
fn batch_rows(pending: &[PendingEvent]) -> Vec<BatchRow<'_>> {
    pending
        .iter()
        .map(|e| {
            let message_id = e.message_id.as_deref();
            (
                e.id.as_str(),
                e.kind.as_str(),
                e.data.as_str(),
                message_id,
                e.at,
                e.replace,
            )
        })
        .collect()
}

/// Larger than any row number, and still a safe JavaScript number.
const NO_CURSOR: i64 = (1 << 53) - 1;

impl Store {
    /// Writes pending events before anything else touches the log (reads see them, and
    /// their order in the log is the order they arrived in).
    fn flush_pending_first(&self) -> ApiResult<()> {
        if self.has_pending_events() {
            self.flush_events()?;
        }
        Ok(())
    }

    /// Every artifact, oldest first.
    pub fn artifacts(&self) -> ApiResult<Vec<ArtifactRow>> {
        self.rows(
            "SELECT rowid AS seq, * FROM artifacts ORDER BY rowid LIMIT 200",
            vec![],
        )
    }

    /// The session's pull request artifacts, newest first (one per pull request opened).
    pub fn pr_artifacts(&self) -> ApiResult<Vec<ArtifactRow>> {
        self.rows(
            "SELECT rowid AS seq, * FROM artifacts WHERE type = ? ORDER BY rowid DESC LIMIT 100",
            vec![ArtifactKind::Pr.as_str().into()],
        )
    }

    pub fn insert_artifact(
        &self,
        id: &str,
        kind: ArtifactKind,
        url: &str,
        metadata: &str,
        now: i64,
    ) -> ApiResult<ArtifactRow> {
        self.first(
            "INSERT INTO artifacts (id, type, url, metadata, created_at) VALUES (?, ?, ?, ?, ?)
             RETURNING rowid AS seq, id, type, url, metadata, created_at",
            vec![
                id.into(),
                kind.as_str().into(),
                url.into(),
                metadata.into(),
                now.into(),
            ],
        )?
        .ok_or_else(|| ApiError::internal("artifact was not stored"))
    }

    /// Replaces an artifact's metadata; answers the row as it is now.
    pub fn set_artifact_metadata(&self, id: &str, metadata: &Value) -> ApiResult<ArtifactRow> {
        self.first(
            "UPDATE artifacts SET metadata = ? WHERE id = ?
             RETURNING rowid AS seq, id, type, url, metadata, created_at",
            vec![metadata.to_string().into(), id.into()],
        )?
        .ok_or_else(|| ApiError::not_found("artifact not found"))
    }

    /// Remembers a webhook delivery; answers `false` when it was seen within the last 24
    /// hours (and forgets older ones).
    pub fn remember_delivery(&self, id: &str, now: i64) -> ApiResult<bool> {
        self.run(
            "DELETE FROM deliveries WHERE at < ?",
            vec![(now - DELIVERY_MEMORY_MS).into()],
        )?;
        self.changed(
            "INSERT INTO deliveries (id, at) VALUES (?, ?) ON CONFLICT(id) DO NOTHING",
            vec![id.into(), now.into()],
        )
    }

    /// Keeps an event to be written with the next batch (see [`Self::flush_events`]): one
    /// whose id is its own (never a repeat) or that replaces its repeats. A pending event
    /// with the same id is replaced in memory (a token stream keeps its latest text).
    /// Answers whether the batch is now due (it is full).
    pub fn defer_event(&self, event: PendingEvent) -> bool {
        let mut pending = self.pending_events.borrow_mut();
        match pending.iter_mut().find(|p| p.replace && p.id == event.id) {
            Some(same) => *same = event,
            None => pending.push(event),
        }
        let bytes: usize = pending.iter().map(|p| p.data.len()).sum();
        pending.len() >= MAX_PENDING_EVENTS || bytes >= MAX_BATCH_BYTES
    }

    /// Writes the events kept by [`Self::defer_event`], in order, in statements of at most
    /// [`MAX_BATCH_BYTES`] each. Every read of the log and every other write to it comes after
    /// this. A failed statement loses nothing: what it and the later ones held is kept
    /// pending, ahead of anything deferred since.
    pub fn flush_events(&self) -> ApiResult<()> {
        let pending = std::mem::take(&mut *self.pending_events.borrow_mut());
        if pending.is_empty() {
            return Ok(());
        }
        let sizes: Vec<usize> = pending.iter().map(|p| p.data.len()).collect();
        for range in batches(&sizes, MAX_BATCH_BYTES) {
            // One statement per batch: its rows go to SQLite as one JSON array.
            let written = serde_json::to_string(&batch_rows(&pending[range.clone()]))
                .map_err(|e| ApiError::internal(e.to_string()))
                .and_then(|rows| self.run(INSERT_BATCH, vec![rows.into()]));
            if let Err(e) = written {
                let mut kept = self.pending_events.borrow_mut();
                let later = std::mem::take(&mut *kept);
                kept.extend(pending[range.start..].iter().cloned());
                kept.extend(later);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Claims the one scheduled write of pending events: answers whether the caller should
    /// schedule it (none was), and [`Self::flush_scheduled_events`] releases it.
    pub fn claim_flush(&self) -> bool {
        !self.flush_scheduled.replace(true)
    }

    /// The scheduled write of pending events.
    pub fn flush_scheduled_events(&self) -> ApiResult<()> {
        self.flush_scheduled.set(false);
        self.flush_events()
    }

    /// Whether events are waiting to be written.
    pub fn has_pending_events(&self) -> bool {
        !self.pending_events.borrow().is_empty()
    }

    /// The INSERT of an event under `id` (a repeat replaces it or is dropped, by `replace`),
    /// ending with `tail`, and its bindings. Pending events are written first.
    #[allow(clippy::too_many_arguments)]
    fn event_insert(
        &self,
        id: &str,
        kind: &str,
        data: &str,
        message_id: Option<&str>,
        replace: bool,
        now: i64,
        tail: &str,
    ) -> ApiResult<(String, Vec<V>)> {
        self.flush_pending_first()?;
        let conflict = if replace { REPLACE } else { KEEP };
        Ok((
            format!(
                "INSERT INTO events (id, type, data, message_id, created_at) VALUES (?, ?, ?, ?, ?)
                 {conflict} {tail}"
            ),
            vec![
                id.into(),
                kind.into(),
                data.into(),
                opt_str(message_id),
                now.into(),
            ],
        ))
    }

    /// Stores an event like [`Self::upsert_event`] without reading it back: answers whether
    /// it was stored (the sandbox event path, where nothing of the row is needed).
    pub fn put_event(
        &self,
        id: &str,
        kind: &str,
        data: &str,
        message_id: Option<&str>,
        replace: bool,
        now: i64,
    ) -> ApiResult<bool> {
        let (query, bindings) = self.event_insert(id, kind, data, message_id, replace, now, "")?;
        self.changed(&query, bindings)
    }

    /// Stores an event (`data`: its raw JSON text) under a stable id: a repeat either
    /// replaces it (`replace`) or is dropped, answered with `None`.
    pub fn upsert_event(
        &self,
        id: &str,
        kind: &str,
        data: &str,
        message_id: Option<&str>,
        replace: bool,
        now: i64,
    ) -> ApiResult<Option<EventRow>> {
        let returning = "RETURNING seq, id, type, data, message_id, created_at";
        let (query, bindings) =
            self.event_insert(id, kind, data, message_id, replace, now, returning)?;
        self.first(&query, bindings)
    }

    /// Stores a new event under a fresh id.
    pub fn insert_event(
        &self,
        id: &str,
        kind: &str,
        data: &str,
        message_id: Option<&str>,
        now: i64,
    ) -> ApiResult<EventRow> {
        self.upsert_event(id, kind, data, message_id, false, now)?
            .ok_or_else(|| ApiError::internal("event was not stored"))
    }

    /// How many events the log holds.
    pub fn event_count(&self) -> ApiResult<i64> {
        self.flush_pending_first()?;
        self.count("SELECT COUNT(*) AS n FROM events", vec![])
    }

    /// How many bytes of event text the log holds.
    pub fn event_bytes(&self) -> ApiResult<i64> {
        self.flush_pending_first()?;
        self.count(
            "SELECT COALESCE(SUM(length(CAST(data AS BLOB))), 0) AS n FROM events",
            vec![],
        )
    }

    /// The position of the event `id` in the log, if it is stored.
    pub fn event_seq(&self, id: &str) -> ApiResult<Option<i64>> {
        self.flush_pending_first()?;
        let seqs = self.ints(
            "SELECT seq FROM events WHERE id = ?",
            vec![id.into()],
            "seq",
        )?;
        Ok(seqs.first().copied())
    }

    /// One page of events, newest first, of at most `page.limit` events and about
    /// [`MAX_PAGE_BYTES`]: SQLite adds up the sizes, so no row past the budget (but the one
    /// that crosses it) is read into memory.
    pub fn events(&self, page: &Page) -> ApiResult<Window<EventRow>> {
        self.flush_pending_first()?;
        let query = format!(
            "SELECT seq, id, type, data, message_id, created_at FROM (
                SELECT seq, id, type, data, message_id, created_at,
                    SUM(length(CAST(data AS BLOB))) OVER (ORDER BY seq DESC
                        ROWS UNBOUNDED PRECEDING) - length(CAST(data AS BLOB)) AS before
                FROM events
                WHERE seq < ?1 AND (?2 IS NULL OR type = ?2) AND (?3 IS NULL OR message_id = ?3)
                ORDER BY seq DESC{})
             WHERE before <= ?4 ORDER BY seq DESC",
            fetch_limit(page.limit)
        );
        let rows = self.rows(
            &query,
            vec![
                page.cursor.unwrap_or(NO_CURSOR).into(),
                opt(&page.event_type),
                opt(&page.message_id),
                (MAX_PAGE_BYTES as i64).into(),
            ],
        )?;
        Ok(window_within(
            rows,
            page.limit,
            MAX_PAGE_BYTES,
            |r: &EventRow| r.data.as_str().len(),
            EventRow::seq,
        ))
    }

    /// One page of typed rows (fetched with `limit + 1`), as callers see them.
    fn listed<T: Listed>(
        &self,
        query: &str,
        bindings: Vec<V>,
        limit: u32,
    ) -> ApiResult<Window<Raw>> {
        Ok(window(self.rows::<T>(query, bindings)?, limit, T::seq).map(|r| r.view()))
    }

    /// One page of a list, newest first, as callers see it.
    pub fn page(&self, kind: ListKind, page: &Page) -> ApiResult<Window<Raw>> {
        let cursor: V = page.cursor.unwrap_or(NO_CURSOR).into();
        let n = page.limit;
        let last = fetch_limit(n);
        let by_rowid = |table: &str, columns: &str| {
            format!("SELECT {columns} FROM {table} WHERE rowid < ? ORDER BY rowid DESC{last}")
        };
        match kind {
            ListKind::Events => Ok(self.events(page)?.map(|r| r.view())),
            ListKind::Messages => self.listed::<MessageRow>(
                &format!(
                    "SELECT rowid AS seq, * FROM messages WHERE rowid < ?1 AND (?2 IS NULL OR status = ?2)
                 ORDER BY rowid DESC{last}"
                ),
                vec![cursor, opt_str(page.status.map(|s| s.as_str()))],
                n,
            ),
            ListKind::Artifacts => self.listed::<ArtifactRow>(
                &by_rowid("artifacts", "rowid AS seq, *"),
                vec![cursor],
                n,
            ),
            ListKind::Participants => self.listed::<ParticipantRow>(
                &by_rowid("participants", PARTICIPANT_COLUMNS),
                vec![cursor],
                n,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_under_the_byte_limit_in_order() {
        assert_eq!(batches(&[], 10), vec![]);
        assert_eq!(batches(&[4, 4, 4], 10), vec![0..2, 2..3]);
        assert_eq!(batches(&[4, 20, 1, 1], 10), vec![0..1, 1..2, 2..4]);
        assert_eq!(batches(&[10, 10], 10), vec![0..1, 1..2]);
        // 256 events of 64 KiB: 16 MiB in statements of at most 1 MiB.
        let big = vec![64 * 1024; 256];
        let cut = batches(&big, MAX_BATCH_BYTES);
        assert_eq!(cut.len(), 16);
        assert!(cut
            .iter()
            .all(|r| big[r.clone()].iter().sum::<usize>() <= MAX_BATCH_BYTES));
    }

    #[test]
    fn a_batch_is_one_json_array_of_rows_in_arrival_order() {
        let event = |id: &str, message_id: Option<&str>, replace| PendingEvent {
            id: id.into(),
            kind: "token".into(),
            data: r#"{"type":"token","content":"a \"b\""}"#.into(),
            message_id: message_id.map(str::to_string),
            replace,
            at: 7,
        };
        let pending = [event("t1", Some("m1"), true), event("x2", None, false)];
        let json = serde_json::to_string(&batch_rows(&pending)).unwrap();
        let rows: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            rows,
            serde_json::json!([
                [
                    "t1",
                    "token",
                    r#"{"type":"token","content":"a \"b\""}"#,
                    "m1",
                    7,
                    true
                ],
                [
                    "x2",
                    "token",
                    r#"{"type":"token","content":"a \"b\""}"#,
                    null,
                    7,
                    false
                ]
            ])
        );
    }
}
