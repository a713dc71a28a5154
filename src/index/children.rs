//! The index's side of child sessions: a session's children, whether one is a session's
//! child, how many it has (ever, and unfinished), and the unfinished sessions below one,
//! deepest first.

use worker::D1Database;

use crate::error::ApiResult;
use crate::log::{self, D1};
use crate::rows::{self, FromRow, Read, Row};
use crate::session::model::{SessionRow, SessionStatus};

/// The statuses a child has finished in ([`SessionStatus::is_finished`]), as an SQL list.
fn finished() -> String {
    let names: Vec<String> = SessionStatus::ALL
        .iter()
        .filter(|s| s.is_finished())
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("({})", names.join(", "))
}

/// A session's children, newest first (every status; at most 100).
pub async fn list(db: &D1Database, parent: &str) -> ApiResult<Vec<SessionRow>> {
    log::d1(D1::Read);
    let stmt = db
        .prepare(
            "SELECT * FROM sessions WHERE parent_session_id = ?1
             ORDER BY created_at DESC, id DESC LIMIT 100",
        )
        .bind(&[parent.into()])?;
    rows::d1_all(&stmt).await
}

struct Counts {
    total: i64,
    running: i64,
}

impl FromRow for Counts {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(Counts {
            total: r.int("total"),
            running: r.opt_int("running").unwrap_or(0),
        })
    }
}

/// How many children a session has: ever, and not finished.
pub async fn counts(db: &D1Database, parent: &str) -> ApiResult<(i64, i64)> {
    log::d1(D1::Read);
    let stmt = db
        .prepare(format!(
            "SELECT COUNT(*) AS total, SUM(status NOT IN {}) AS running
             FROM sessions WHERE parent_session_id = ?1",
            finished()
        ))
        .bind(&[parent.into()])?;
    let c = rows::d1_first::<Counts>(&stmt).await?;
    Ok(c.map_or((0, 0), |c| (c.total, c.running)))
}

/// `child` if it is `parent`'s own child (not a grandchild).
pub async fn child_of(db: &D1Database, parent: &str, child: &str) -> ApiResult<Option<SessionRow>> {
    log::d1(D1::Read);
    let stmt = db
        .prepare("SELECT * FROM sessions WHERE id = ?1 AND parent_session_id = ?2")
        .bind(&[child.into(), parent.into()])?;
    rows::d1_first(&stmt).await
}

struct Id(String);

impl FromRow for Id {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(Id(r.text("id")))
    }
}

/// The unfinished sessions below `root` (ten levels at most), deepest first.
pub async fn running_descendants(db: &D1Database, root: &str) -> ApiResult<Vec<String>> {
    log::d1(D1::Read);
    let stmt = db
        .prepare(format!(
            "WITH RECURSIVE below(id, depth) AS (
                SELECT id, 1 FROM sessions WHERE parent_session_id = ?1
                UNION ALL
                SELECT s.id, below.depth + 1 FROM sessions s JOIN below ON s.parent_session_id = below.id
                WHERE below.depth < 10)
             SELECT below.id AS id FROM below JOIN sessions s ON s.id = below.id
             WHERE s.status NOT IN {} ORDER BY below.depth DESC, below.id",
            finished()
        ))
        .bind(&[root.into()])?;
    Ok(rows::d1_all::<Id>(&stmt)
        .await?
        .into_iter()
        .map(|i| i.0)
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_finished_statuses_as_sql() {
        assert_eq!(
            super::finished(),
            "('completed', 'failed', 'archived', 'cancelled')"
        );
    }
}
