//! What the session remembers about each client socket across hibernation (its
//! attachment), and the pure rules for client sockets: subscription deadline and token age.

use serde::{Deserialize, Serialize};

use crate::session::client::protocol::PresenceStatus;

/// A client must subscribe within this long after connecting (else close 4008).
pub const SUBSCRIBE_DEADLINE_MS: i64 = 30_000;
/// A ws-token is valid this long after it was issued (else close 4001).
pub const WS_TOKEN_TTL_MS: i64 = 24 * 60 * 60 * 1000;

pub const CLOSE_AUTH_FAILED: u16 = 4001;
/// The session lost what it knew about this client (e.g. its attachment).
pub const CLOSE_IDENTITY_LOST: u16 = 4002;
pub const CLOSE_SUBSCRIBE_TIMEOUT: u16 = 4008;
/// Subscribed client sockets per session at most; a connection past them is refused (429).
pub const MAX_CLIENT_SOCKETS: usize = 32;
/// Sockets that have not subscribed yet, at most: a new one evicts the oldest (4008), so
/// nobody holds the session's slots without a ws-token.
pub const MAX_WAITING_SOCKETS: usize = 8;

/// What to do with a new connection, given the subscribed sockets and the waiting ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Accept,
    /// Accept it, closing the waiting socket at this index (the oldest) first.
    Evict(usize),
    Refuse,
}

/// [`Admit`] for a new connection: refused only when the subscribed sockets fill the
/// session; else the oldest waiting socket makes room when the waiting ones are at their cap.
pub fn admit(subscribed: usize, waiting_since: &[i64]) -> Admit {
    if subscribed >= MAX_CLIENT_SOCKETS {
        return Admit::Refuse;
    }
    if waiting_since.len() < MAX_WAITING_SOCKETS {
        return Admit::Accept;
    }
    waiting_since
        .iter()
        .enumerate()
        .min_by_key(|(_, at)| **at)
        .map_or(Admit::Accept, |(i, _)| Admit::Evict(i))
}

/// `fetch_history` at most this often per socket.
pub const HISTORY_INTERVAL_MS: i64 = 200;

/// The tag every client socket carries, so the session can find them after hibernation.
pub const CLIENT_TAG: &str = "client";

/// The largest frame a subscribed client may send (a prompt is at most 256 KiB of text).
pub const MAX_FRAME: usize = 1024 * 1024;
/// The largest frame a client may send before it subscribed.
pub const MAX_UNSUBSCRIBED_FRAME: usize = 4 * 1024;

/// Kept on each client socket as its attachment (`session::socket`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientAttachment {
    pub connected_at: i64,
    pub participant_id: Option<String>,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// The participant's display name (set on subscribe).
    pub name: Option<String>,
    #[serde(default)]
    pub presence: PresenceStatus,
    /// When this socket last said something.
    #[serde(default)]
    pub last_seen: i64,
    /// When this socket last fetched history.
    pub last_history_at: Option<i64>,
}

impl ClientAttachment {
    /// A socket that connected at `at` and has not subscribed.
    pub fn new(at: i64) -> Self {
        Self {
            connected_at: at,
            participant_id: None,
            user_id: None,
            client_id: None,
            name: None,
            presence: PresenceStatus::Active,
            last_seen: at,
            last_history_at: None,
        }
    }

    pub fn is_subscribed(&self) -> bool {
        self.participant_id.is_some()
    }
}

/// Whether an unsubscribed socket connected at `connected_at` has outlived its deadline.
pub fn subscribe_expired(a: &ClientAttachment, now: i64) -> bool {
    !a.is_subscribed() && now - a.connected_at >= SUBSCRIBE_DEADLINE_MS
}

/// When the next subscription deadline after `now` falls, if any socket is still
/// unsubscribed (sockets already past theirs are being closed and do not count).
pub fn next_deadline<'a>(
    sockets: impl IntoIterator<Item = &'a ClientAttachment>,
    now: i64,
) -> Option<i64> {
    sockets
        .into_iter()
        .filter(|a| !a.is_subscribed())
        .map(|a| a.connected_at + SUBSCRIBE_DEADLINE_MS)
        .filter(|d| *d > now)
        .min()
}

/// A `presence` frame at most this often per socket (each is relayed to every client).
pub const PRESENCE_INTERVAL_MS: i64 = 1_000;

/// Whether a `presence` at `now` comes too soon after this socket last said something.
pub fn presence_too_soon(a: &ClientAttachment, now: i64) -> bool {
    now - a.last_seen < PRESENCE_INTERVAL_MS && now >= a.last_seen
}

/// Whether a `fetch_history` at `now` comes too soon after the previous one.
pub fn history_too_soon(a: &ClientAttachment, now: i64) -> bool {
    a.last_history_at
        .is_some_and(|at| now - at < HISTORY_INTERVAL_MS && now >= at)
}

/// Whether a ws-token issued at `issued_at` is still valid at `now`.
pub fn ws_token_valid(issued_at: i64, now: i64) -> bool {
    now >= issued_at - 60_000 && now - issued_at < WS_TOKEN_TTL_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_is_relayed_at_most_once_a_second() {
        let mut a = ClientAttachment::new(0);
        a.last_seen = 10_000;
        assert!(presence_too_soon(&a, 10_500));
        assert!(!presence_too_soon(&a, 11_000));
        assert!(
            !presence_too_soon(&a, 9_000),
            "a clock that went back does not block"
        );
    }

    #[test]
    fn waiting_sockets_cannot_fill_a_session() {
        assert_eq!(admit(0, &[]), Admit::Accept);
        assert_eq!(admit(MAX_CLIENT_SOCKETS, &[]), Admit::Refuse);
        let waiting: Vec<i64> = (0..MAX_WAITING_SOCKETS as i64).map(|i| 100 - i).collect();
        // The oldest (connected first) makes room.
        assert_eq!(admit(3, &waiting), Admit::Evict(MAX_WAITING_SOCKETS - 1));
        assert_eq!(admit(3, &waiting[1..]), Admit::Accept);
    }

    /// An attachment as it is kept on the socket, read back (and one from before a field
    /// existed still reads).
    #[test]
    fn attachments_round_trip() {
        let a = ClientAttachment {
            participant_id: Some("p".into()),
            user_id: Some("u".into()),
            client_id: None,
            name: Some("N".into()),
            presence: PresenceStatus::Away,
            last_history_at: Some(9),
            ..ClientAttachment::new(5)
        };
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(crate::json::read(&text), Ok(a));
        let old: ClientAttachment = crate::json::read(r#"{"connectedAt":7}"#).unwrap();
        let expected = ClientAttachment {
            last_seen: 0,
            ..ClientAttachment::new(7)
        };
        assert_eq!(old, expected);
    }

    fn att(at: i64, sub: bool) -> ClientAttachment {
        ClientAttachment {
            connected_at: at,
            participant_id: sub.then(|| "p".to_string()),
            user_id: None,
            client_id: None,
            ..ClientAttachment::new(at)
        }
    }

    #[test]
    fn subscribe_deadline() {
        assert!(!subscribe_expired(&att(0, false), 29_999));
        assert!(subscribe_expired(&att(0, false), 30_000));
        assert!(!subscribe_expired(&att(0, true), 90_000));
        let socks = [att(10, true), att(50, false), att(20, false)];
        assert_eq!(next_deadline(&socks, 0), Some(30_020));
        assert_eq!(next_deadline(&socks, 30_020), Some(30_050));
        assert_eq!(next_deadline(&socks, 30_050), None);
        assert_eq!(next_deadline(&[att(10, true)], 0), None);
    }

    #[test]
    fn history_is_rate_limited() {
        let mut a = att(0, true);
        assert!(!history_too_soon(&a, 1_000));
        a.last_history_at = Some(1_000);
        assert!(history_too_soon(&a, 1_199));
        assert!(!history_too_soon(&a, 1_200));
    }

    #[test]
    fn token_age() {
        assert!(ws_token_valid(1_000, 1_000));
        assert!(ws_token_valid(1_000, 1_000 + WS_TOKEN_TTL_MS - 1));
        assert!(!ws_token_valid(1_000, 1_000 + WS_TOKEN_TTL_MS));
        assert!(!ws_token_valid(1_000_000, 0));
    }
}
