//! `GET` and `PUT /keyboard-shortcuts`: a signed-in user's keyboard shortcuts, as
//! Open-Inspect's web app reads and saves them (its four actions, each a key with modifiers;
//! the defaults until the user saves theirs). The shapes and rules are pure; one D1 row per
//! user, kept with its format's version.

use serde::{Deserialize, Serialize};
use worker::{Env, Response};

use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::respond;
use crate::identity::principal::Caller;
use crate::json;
use crate::log::{self, D1};
use crate::rows::{self, bind_int, FromRow, Read, Row};

/// One shortcut: a key (`KeyboardEvent.code`) and its modifiers (`primary`: ⌘ or Ctrl).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    pub code: String,
    pub primary: bool,
    pub alt: bool,
    pub shift: bool,
}

/// Every action's shortcut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shortcuts {
    #[serde(rename = "send-prompt")]
    pub send_prompt: Binding,
    #[serde(rename = "open-command-menu")]
    pub open_command_menu: Binding,
    #[serde(rename = "new-session")]
    pub new_session: Binding,
    #[serde(rename = "toggle-sidebar")]
    pub toggle_sidebar: Binding,
}

/// The request and answer body: `{"shortcuts": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    pub shortcuts: Shortcuts,
}

/// The stored row: the body's shortcuts and the format's version.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    version: u32,
    shortcuts: Shortcuts,
}

const VERSION: u32 = 1;

/// Keys that only modify another.
const MODIFIERS: &[&str] = &[
    "AltLeft",
    "AltRight",
    "ControlLeft",
    "ControlRight",
    "MetaLeft",
    "MetaRight",
    "ShiftLeft",
    "ShiftRight",
];

fn key(code: &str, primary: bool, alt: bool, shift: bool) -> Binding {
    Binding {
        code: code.into(),
        primary,
        alt,
        shift,
    }
}

impl Default for Shortcuts {
    /// Open-Inspect's defaults.
    fn default() -> Self {
        Shortcuts {
            send_prompt: key("Enter", true, false, false),
            open_command_menu: key("KeyK", true, false, false),
            new_session: key("KeyO", true, false, true),
            toggle_sidebar: key("Slash", true, false, false),
        }
    }
}

impl Binding {
    /// A usable shortcut: a key code (a letter, then letters or digits, at most 64), not a
    /// modifier itself, with ⌘/Ctrl or Alt.
    fn is_valid(&self) -> bool {
        let c = &self.code;
        (1..=64).contains(&c.len())
            && c.starts_with(|ch: char| ch.is_ascii_alphabetic())
            && c.chars().all(|ch| ch.is_ascii_alphanumeric())
            && !MODIFIERS.contains(&c.as_str())
            && (self.primary || self.alt)
    }
}

impl Shortcuts {
    fn all(&self) -> [&Binding; 4] {
        [
            &self.send_prompt,
            &self.open_command_menu,
            &self.new_session,
            &self.toggle_sidebar,
        ]
    }

    /// Every shortcut usable, and no two alike.
    pub fn is_valid(&self) -> bool {
        let all = self.all();
        all.iter().all(|b| b.is_valid())
            && all
                .iter()
                .enumerate()
                .all(|(i, b)| !all[i + 1..].contains(b))
    }
}

/// The signed-in user the shortcuts belong to, else 403.
fn owner(caller: &Caller) -> ApiResult<&str> {
    match caller {
        Caller::User { user_id } => Ok(user_id),
        _ => Err(ApiError::forbidden("Canonical user required")),
    }
}

struct Row1(String);

impl FromRow for Row1 {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(Row1(r.text("shortcuts")))
    }
}

/// `GET /keyboard-shortcuts`: the user's shortcuts, or the defaults.
pub async fn get(env: &Env, caller: &Caller) -> ApiResult<Response> {
    let user_id = owner(caller)?;
    log::d1(D1::Read);
    let stmt = env
        .d1("DB")?
        .prepare("SELECT shortcuts FROM keyboard_shortcut_preferences WHERE user_id = ?1")
        .bind(&[user_id.into()])?;
    let shortcuts = rows::d1_first::<Row1>(&stmt)
        .await?
        .and_then(|r| json::read::<Stored>(&r.0).ok())
        .filter(|s| s.version == VERSION)
        .map(|s| s.shortcuts)
        .unwrap_or_default();
    respond::json(200, &Body { shortcuts })
}

/// `PUT /keyboard-shortcuts`: saves the user's shortcuts (all four, usable, no two alike).
pub async fn put(req: &Incoming, env: &Env, caller: &Caller) -> ApiResult<Response> {
    let user_id = owner(caller)?;
    let invalid = || ApiError::bad_request("Invalid keyboard shortcuts");
    let body: Body = respond::body(req).await.map_err(|e| match e.status {
        413 | 415 => e,
        _ => invalid(),
    })?;
    if !body.shortcuts.is_valid() {
        return Err(invalid());
    }
    let stored = serde_json::to_string(&Stored {
        version: VERSION,
        shortcuts: body.shortcuts.clone(),
    })?;
    log::d1(D1::Write);
    env.d1("DB")?
        .prepare(
            "INSERT INTO keyboard_shortcut_preferences (user_id, shortcuts, updated_at)
             VALUES (?1, ?2, ?3)
             ON CONFLICT(user_id) DO UPDATE SET shortcuts = excluded.shortcuts,
                updated_at = excluded.updated_at",
        )
        .bind(&[user_id.into(), stored.into(), bind_int(now_ms())])?
        .run()
        .await?;
    respond::json(200, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_defaults_are_open_inspects_and_valid() {
        let d = Shortcuts::default();
        assert!(d.is_valid());
        let text = serde_json::to_value(Body { shortcuts: d }).unwrap();
        assert_eq!(
            text["shortcuts"]["new-session"],
            json!({"code": "KeyO", "primary": true, "alt": false, "shift": true})
        );
    }

    #[test]
    fn shortcuts_must_be_usable_and_distinct() {
        let mut s = Shortcuts::default();
        s.toggle_sidebar = s.open_command_menu.clone();
        assert!(!s.is_valid(), "two alike");
        for bad in [
            key("ShiftLeft", true, false, false),
            key("KeyA", false, false, true),
            key("1Key", true, false, false),
            key("Key-A", true, false, false),
            key("", true, false, false),
        ] {
            let s = Shortcuts {
                send_prompt: bad.clone(),
                ..Shortcuts::default()
            };
            assert!(!s.is_valid(), "{bad:?}");
        }
        let alt = Shortcuts {
            send_prompt: key("KeyP", false, true, false),
            ..Shortcuts::default()
        };
        assert!(alt.is_valid());
        // The body is exactly the four actions.
        let extra = r#"{"shortcuts":{"send-prompt":{"code":"Enter","primary":true,"alt":false,"shift":false},"x":1}}"#;
        assert!(json::read::<Body>(extra).is_err());
    }
}
