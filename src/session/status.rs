//! How a session's status changes, as a pure function: a prompt (re)activates the session,
//! even an archived one; a finished prompt leaves it completed or failed unless more are
//! queued; archive and unarchive are always allowed.

use crate::session::model::SessionStatus;

/// What happened to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Prompt,
    /// The running prompt ended (`success`), with `more_queued` prompts still waiting.
    Finished {
        success: bool,
        more_queued: bool,
    },
    Archive,
    Unarchive,
    /// Cancelled by its parent's agent (a child session): for good.
    Cancel,
}

/// The status after `change` (equal to `current` when it stays; the caller then only
/// touches `updated_at`).
pub fn transition(current: SessionStatus, change: Change) -> SessionStatus {
    use SessionStatus::*;
    match change {
        Change::Prompt | Change::Unarchive => Active,
        Change::Archive => Archived,
        Change::Cancel => Cancelled,
        // A cancelled session stays cancelled when the prompt it stopped ends.
        Change::Finished { .. } if current == Cancelled => Cancelled,
        // An archived session stays archived when its last prompt ends.
        Change::Finished { .. } if current == Archived => Archived,
        Change::Finished {
            more_queued: true, ..
        } => Active,
        Change::Finished { success: true, .. } => Completed,
        Change::Finished { success: false, .. } => Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionStatus::*;

    const ALL: [SessionStatus; 6] = [Created, Active, Completed, Failed, Archived, Cancelled];

    #[test]
    fn a_cancelled_session_stays_cancelled_when_its_prompt_ends() {
        assert_eq!(transition(Active, Change::Cancel), Cancelled);
        let done = Change::Finished {
            success: false,
            more_queued: true,
        };
        assert_eq!(transition(Cancelled, done), Cancelled);
    }

    #[test]
    fn prompts_activate_even_archived_sessions() {
        for s in ALL {
            assert_eq!(transition(s, Change::Prompt), Active, "{s:?}");
        }
    }

    #[test]
    fn a_finished_prompt_completes_or_fails_unless_more_wait() {
        let done = |success, more_queued| Change::Finished {
            success,
            more_queued,
        };
        assert_eq!(transition(Active, done(true, false)), Completed);
        assert_eq!(transition(Active, done(false, false)), Failed);
        assert_eq!(transition(Active, done(false, true)), Active);
        assert_eq!(transition(Archived, done(true, false)), Archived);
    }

    #[test]
    fn archive_and_unarchive_from_anywhere() {
        for s in ALL {
            assert_eq!(transition(s, Change::Archive), Archived);
            assert_eq!(transition(s, Change::Unarchive), Active);
        }
    }
}
