//! The session's record: `events` (stored once under a stable id when one exists) and
//! `artifacts`, and the paged lists of every table.

use serde_json::Value;
use worker::SqlStorageValue as V;

use super::{opt, opt_str, Store, PARTICIPANT_COLUMNS};
use crate::error::{ApiError, ApiResult};
use crate::session::command::ListKind;
use crate::session::model::{
    ArtifactKind, ArtifactRow, EventRow, Listed, MessageRow, ParticipantRow,
};
use crate::session::paging::{window, Page, Window};

/// Larger than any row number, and still a safe JavaScript number.
const NO_CURSOR: i64 = (1 << 53) - 1;

impl Store {
    /// The session's pull request artifact, if it has one.
    pub fn pr_artifact(&self) -> ApiResult<Option<ArtifactRow>> {
        self.first(
            "SELECT rowid AS seq, * FROM artifacts WHERE type = ? LIMIT 1",
            vec![ArtifactKind::Pr.as_str().into()],
        )
    }

    pub fn insert_artifact(
        &self,
        id: &str,
        kind: ArtifactKind,
        url: &str,
        metadata: &Value,
        now: i64,
    ) -> ApiResult<ArtifactRow> {
        self.first(
            "INSERT INTO artifacts (id, type, url, metadata, created_at) VALUES (?, ?, ?, ?, ?)
             RETURNING rowid AS seq, id, type, url, metadata, created_at",
            vec![
                id.into(),
                kind.as_str().into(),
                url.into(),
                metadata.to_string().into(),
                now.into(),
            ],
        )?
        .ok_or_else(|| ApiError::internal("artifact was not stored"))
    }

    /// Stores an event under a stable id: a repeat either replaces it (`replace`) or is
    /// dropped, answered with `None`.
    pub fn upsert_event(
        &self,
        id: &str,
        kind: &str,
        data: &Value,
        message_id: Option<&str>,
        replace: bool,
        now: i64,
    ) -> ApiResult<Option<EventRow>> {
        let conflict = if replace {
            "ON CONFLICT(id) DO UPDATE SET data = excluded.data, created_at = excluded.created_at"
        } else {
            "ON CONFLICT(id) DO NOTHING"
        };
        self.first(
            &format!(
                "INSERT INTO events (id, type, data, message_id, created_at) VALUES (?, ?, ?, ?, ?)
                 {conflict} RETURNING seq, id, type, data, message_id, created_at"
            ),
            vec![
                id.into(),
                kind.into(),
                data.to_string().into(),
                opt_str(message_id),
                now.into(),
            ],
        )
    }

    /// Stores a new event under a fresh id.
    pub fn insert_event(
        &self,
        id: &str,
        kind: &str,
        data: &Value,
        message_id: Option<&str>,
        now: i64,
    ) -> ApiResult<EventRow> {
        self.upsert_event(id, kind, data, message_id, false, now)?
            .ok_or_else(|| ApiError::internal("event was not stored"))
    }

    /// One page of typed rows (fetched with `limit + 1`), shown with each row's `seq`.
    fn listed<T: Listed>(
        &self,
        query: &str,
        bindings: Vec<V>,
        limit: u32,
    ) -> ApiResult<Window<Value>> {
        let rows = window(self.rows::<T>(query, bindings)?, limit, T::seq);
        Ok(rows.map(|r| {
            let mut v = r.view();
            if let Value::Object(m) = &mut v {
                m.insert("seq".into(), r.seq().into());
            }
            v
        }))
    }

    /// One page of a list, newest first.
    pub fn page(&self, kind: ListKind, page: &Page) -> ApiResult<Window<Value>> {
        let cursor: V = page.cursor.unwrap_or(NO_CURSOR).into();
        let limit: V = (i64::from(page.limit) + 1).into();
        let by_rowid = |table: &str, columns: &str| {
            format!("SELECT {columns} FROM {table} WHERE rowid < ? ORDER BY rowid DESC LIMIT ?")
        };
        let n = page.limit;
        match kind {
            ListKind::Events => self.listed::<EventRow>(
                "SELECT seq, id, type, data, message_id, created_at FROM events
                 WHERE seq < ? AND (? IS NULL OR type = ?) ORDER BY seq DESC LIMIT ?",
                vec![cursor, opt(&page.event_type), opt(&page.event_type), limit],
                n,
            ),
            ListKind::Messages => self.listed::<MessageRow>(
                &by_rowid("messages", "rowid AS seq, *"),
                vec![cursor, limit],
                n,
            ),
            ListKind::Artifacts => self.listed::<ArtifactRow>(
                &by_rowid("artifacts", "rowid AS seq, *"),
                vec![cursor, limit],
                n,
            ),
            ListKind::Participants => self.listed::<ParticipantRow>(
                &by_rowid("participants", PARTICIPANT_COLUMNS),
                vec![cursor, limit],
                n,
            ),
        }
    }
}
