//! How a session's status changes, as a pure function: a prompt activates a new session and
//! is refused on an archived one; archive and unarchive are always allowed.

use crate::error::ApiError;
use crate::session::model::SessionStatus;

/// What happened to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Prompt,
    Archive,
    Unarchive,
}

/// The status after `change`, or why the change is refused. Equal to `current` when the
/// status stays (the caller then only touches `updated_at`).
pub fn transition(current: SessionStatus, change: Change) -> Result<SessionStatus, ApiError> {
    use SessionStatus::*;
    match (change, current) {
        (Change::Prompt, Archived) => Err(ApiError::conflict(
            "session is archived; unarchive it first",
        )),
        (Change::Prompt, Created | Active) => Ok(Active),
        (Change::Archive, _) => Ok(Archived),
        (Change::Unarchive, _) => Ok(Active),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionStatus::*;

    #[test]
    fn prompts_activate_and_are_refused_when_archived() {
        assert_eq!(transition(Created, Change::Prompt), Ok(Active));
        assert_eq!(transition(Active, Change::Prompt), Ok(Active));
        let e = transition(Archived, Change::Prompt).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (409, "conflict"));
    }

    #[test]
    fn archive_and_unarchive_from_anywhere() {
        for s in [Created, Active, Archived] {
            assert_eq!(transition(s, Change::Archive), Ok(Archived));
            assert_eq!(transition(s, Change::Unarchive), Ok(Active));
        }
    }
}
