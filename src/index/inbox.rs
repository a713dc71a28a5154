//! The sidebar's inbox and read state (Open-Inspect's `GET /sessions/inbox` and
//! `PATCH /sessions/:id/read-state`): a user's sessions in three categories, and which
//! finished prompt of a session they last read. A session is unread when its latest finished
//! prompt is not the one they last marked read. The rules are pure; the D1 reads and writes
//! are the functions at the end.

use serde::{Deserialize, Serialize};
use worker::wasm_bindgen::JsValue;
use worker::D1Database;

use crate::error::{ApiError, ApiResult};
use crate::log::{self, D1};
use crate::rows::{self, FromRow, Read, Row};
use crate::session::model::{SessionRow, SessionStatus};

/// Sessions per page of a category.
pub const PAGE: u32 = 20;

/// An inbox category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// A finished prompt the user has not read.
    NeedsAttention,
    /// Working.
    InProgress,
    Finished,
}

crate::wire::wire_names!(Category {
    NeedsAttention => "needs_attention",
    InProgress => "in_progress",
    Finished => "finished",
});

/// Whether a session whose latest finished prompt is `latest` is unread by someone who last
/// read `read`.
pub fn unread(latest: Option<&str>, read: Option<&str>) -> bool {
    latest.is_some_and(|l| read != Some(l))
}

/// The category of a session.
pub fn category(unread: bool, status: SessionStatus) -> Category {
    match (unread, status) {
        (true, _) => Category::NeedsAttention,
        (false, SessionStatus::Active) => Category::InProgress,
        (false, _) => Category::Finished,
    }
}

/// `PATCH /sessions/:id/read-state` body, strict as Open-Inspect's schema.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReadAction {
    #[serde(rename_all = "camelCase")]
    MarkMessageRead {
        message_id: String,
    },
    // A struct variant, so that an extra field is refused here too.
    MarkLatestMessageRead {},
}

/// What marking did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    NoTerminalMessage,
    MarkedRead,
    AlreadyRead,
    NotLatest,
}

/// The answer to `action` when the latest finished prompt is `latest` and the user last read
/// `read`: the outcome, whether it is unread afterwards, and the message to record as read.
pub fn mark(
    action: &ReadAction,
    latest: Option<&str>,
    read: Option<&str>,
) -> (Outcome, bool, Option<String>) {
    let Some(latest) = latest else {
        return (Outcome::NoTerminalMessage, false, None);
    };
    if let ReadAction::MarkMessageRead { message_id } = action {
        if message_id != latest {
            return (Outcome::NotLatest, unread(Some(latest), read), None);
        }
    }
    if read == Some(latest) {
        (Outcome::AlreadyRead, false, None)
    } else {
        (Outcome::MarkedRead, false, Some(latest.to_string()))
    }
}

/// A session row with its latest finished prompt and what the viewer last read.
pub struct InboxRow {
    pub session: SessionRow,
    pub latest: Option<String>,
    pub read: Option<String>,
}

impl FromRow for InboxRow {
    fn from_row(r: &Row) -> Read<Self> {
        Ok(InboxRow {
            session: SessionRow::from_row(r)?,
            latest: r.opt_text("latest_message_id"),
            read: r.opt_text("read_message_id"),
        })
    }
}

impl InboxRow {
    /// Open-Inspect's `SessionListItem`, with its `readState`.
    pub fn item(&self) -> serde_json::Value {
        let s = &self.session;
        let latest = self.latest.as_deref();
        let mut item = serde_json::json!({
            "id": s.id,
            "title": s.title,
            "repoOwner": s.repo_owner,
            "repoName": s.repo_name,
            "baseBranch": s.base_branch,
            "status": s.status,
            "parentSessionId": s.parent_session_id,
            "spawnSource": s.spawn_source(),
            "environmentId": null,
            "createdAt": s.created_at,
            "updatedAt": s.updated_at,
            "readState": {
                "latestMessageId": latest,
                "unread": unread(latest, self.read.as_deref()),
            },
        });
        if let Some(p) = s.pr_summary {
            item["pullRequestSummary"] = serde_json::json!(p);
        }
        item
    }
}

/// The condition of an unread row in [`page`]'s query.
const UNREAD: &str =
    "s.latest_message_id IS NOT NULL AND (r.message_id IS NULL OR r.message_id != s.latest_message_id)";

/// One page of `user`'s sessions in `category` (archived ones left out), most recently
/// updated first, from `offset`; answers the rows and whether more follow.
pub async fn page(
    db: &D1Database,
    user: &str,
    category: Category,
    offset: u32,
) -> ApiResult<(Vec<InboxRow>, bool)> {
    let condition = match category {
        Category::NeedsAttention => UNREAD.to_string(),
        Category::InProgress => format!("NOT ({UNREAD}) AND s.status = 'active'"),
        Category::Finished => format!("NOT ({UNREAD}) AND s.status != 'active'"),
    };
    log::d1(D1::Read);
    let stmt = db
        .prepare(format!(
            "SELECT s.*, r.message_id AS read_message_id FROM sessions s
             LEFT JOIN session_reads r ON r.session_id = s.id AND r.user_id = ?1
             WHERE s.created_by = ?1 AND s.status != 'archived' AND {condition}
             ORDER BY s.updated_at DESC, s.id DESC LIMIT {} OFFSET ?2",
            PAGE + 1
        ))
        .bind(&[user.into(), (offset as f64).into()])?;
    let mut rows: Vec<InboxRow> = rows::d1_all(&stmt).await?;
    let more = rows.len() > PAGE as usize;
    rows.truncate(PAGE as usize);
    Ok((rows, more))
}

/// `session`'s latest finished prompt and what `user` last read of it; `None` when the
/// session is not in the index.
pub async fn state(
    db: &D1Database,
    user: &str,
    session: &str,
) -> ApiResult<Option<(Option<String>, Option<String>)>> {
    log::d1(D1::Read);
    let stmt = db
        .prepare(
            "SELECT s.latest_message_id AS latest, r.message_id AS read FROM sessions s
             LEFT JOIN session_reads r ON r.session_id = s.id AND r.user_id = ?1
             WHERE s.id = ?2",
        )
        .bind(&[user.into(), session.into()])?;
    Ok(rows::d1_first::<ReadPair>(&stmt).await?.map(|p| (p.0, p.1)))
}

/// Records that `user` read `message` of `session`.
pub async fn record(
    db: &D1Database,
    user: &str,
    session: &str,
    message: &str,
    now: i64,
) -> ApiResult<()> {
    log::d1(D1::Write);
    db.prepare(
        "INSERT INTO session_reads (user_id, session_id, message_id, read_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, session_id) DO UPDATE SET message_id = excluded.message_id,
            read_at = excluded.read_at",
    )
    .bind(&[
        user.into(),
        session.into(),
        message.into(),
        JsValue::from(now as f64),
    ])?
    .run()
    .await?;
    Ok(())
}

struct ReadPair(Option<String>, Option<String>);

impl FromRow for ReadPair {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(ReadPair(r.opt_text("latest"), r.opt_text("read")))
    }
}

/// An inbox `cursor` (an offset we gave out), or 400.
pub fn cursor(v: &str) -> ApiResult<u32> {
    v.parse::<u32>()
        .map_err(|_| ApiError::bad_request("Invalid cursor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_follow_reads_then_status() {
        assert!(!unread(None, None));
        assert!(unread(Some("m2"), Some("m1")));
        assert!(unread(Some("m2"), None));
        assert!(!unread(Some("m2"), Some("m2")));
        assert_eq!(
            category(true, SessionStatus::Active),
            Category::NeedsAttention
        );
        assert_eq!(category(false, SessionStatus::Active), Category::InProgress);
        assert_eq!(
            category(false, SessionStatus::Completed),
            Category::Finished
        );
    }

    #[test]
    fn marking_read() {
        let latest = ReadAction::MarkLatestMessageRead {};
        assert_eq!(
            mark(&latest, None, None),
            (Outcome::NoTerminalMessage, false, None)
        );
        assert_eq!(
            mark(&latest, Some("m2"), Some("m1")),
            (Outcome::MarkedRead, false, Some("m2".into()))
        );
        assert_eq!(
            mark(&latest, Some("m2"), Some("m2")),
            (Outcome::AlreadyRead, false, None)
        );
        let older = ReadAction::MarkMessageRead {
            message_id: "m1".into(),
        };
        assert_eq!(
            mark(&older, Some("m2"), None),
            (Outcome::NotLatest, true, None)
        );
    }

    #[test]
    fn read_actions_are_strict() {
        let read = |t: &str| crate::json::read::<ReadAction>(t);
        assert_eq!(
            read(r#"{"action":"mark_message_read","messageId":"m"}"#),
            Ok(ReadAction::MarkMessageRead {
                message_id: "m".into()
            })
        );
        assert_eq!(
            read(r#"{"action":"mark_latest_message_read"}"#),
            Ok(ReadAction::MarkLatestMessageRead {})
        );
        for bad in [
            r#"{"action":"mark_latest_message_read","extra":1}"#,
            r#"{"action":"mark_all"}"#,
            r#"{"action":"mark_message_read"}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
