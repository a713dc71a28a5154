//! The ref updates at the head of a `git-receive-pack` request (gitprotocol-pack(5)): pkt-lines
//! of `<old-oid> SP <new-oid> SP <refname>` (the first with `NUL <capabilities>`), after any
//! `shallow` lines, up to the first flush-pkt; the pack follows. Pure.

use serde::{Deserialize, Serialize};

/// One ref update a push asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub name: String,
}

impl RefUpdate {
    /// Whether the update deletes the ref (its new id is all zeros).
    pub fn deletes(&self) -> bool {
        self.new.bytes().all(|b| b == b'0')
    }
}

/// Why the commands could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub &'static str);

/// The most updates one push may carry.
const MAX_UPDATES: usize = 1_000;

fn object_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The ref updates at the start of `body` (nothing after the first flush-pkt is read).
pub fn ref_updates(body: &[u8]) -> Result<Vec<RefUpdate>, Unreadable> {
    let mut updates = Vec::new();
    let mut at = 0;
    loop {
        let len = body
            .get(at..at + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .ok_or(Unreadable("a pkt-line length is missing or not hex"))?;
        if len == 0 {
            break;
        }
        if len < 4 {
            return Err(Unreadable("a special pkt-line where commands belong"));
        }
        let line = body
            .get(at + 4..at + len)
            .ok_or(Unreadable("a pkt-line is cut short"))?;
        at += len;
        let line = std::str::from_utf8(line).map_err(|_| Unreadable("a command is not UTF-8"))?;
        let line = line.strip_suffix('\n').unwrap_or(line);
        let command = line.split('\0').next().unwrap_or_default();
        if command.starts_with("shallow ") {
            continue;
        }
        let mut parts = command.splitn(3, ' ');
        let (Some(old), Some(new), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Unreadable("a command is not `old new ref`"));
        };
        if !object_id(old) || !object_id(new) || name.is_empty() {
            return Err(Unreadable("a command is not `old new ref`"));
        }
        if updates.len() == MAX_UPDATES {
            return Err(Unreadable("too many ref updates in one push"));
        }
        updates.push(RefUpdate {
            old: old.into(),
            new: new.into(),
            name: name.into(),
        });
    }
    if updates.is_empty() {
        return Err(Unreadable("no ref updates"));
    }
    Ok(updates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(s: &str) -> String {
        format!("{:04x}{s}", s.len() + 4)
    }

    const Z: &str = "0000000000000000000000000000000000000000";
    const A: &str = "1111111111111111111111111111111111111111";

    #[test]
    fn commands_before_the_pack_are_read() {
        let body = format!(
            "{}{}{}0000PACK\x00\x00garbage",
            pkt(&format!("shallow {A}\n")),
            pkt(&format!(
                "{Z} {A} refs/heads/agent/x\0report-status side-band-64k\n"
            )),
            pkt(&format!("{A} {Z} refs/heads/old\n")),
        );
        let u = ref_updates(body.as_bytes()).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].name, "refs/heads/agent/x");
        assert!(!u[0].deletes());
        assert_eq!(u[1].name, "refs/heads/old");
        assert!(u[1].deletes());
    }

    #[test]
    fn anything_else_is_unreadable() {
        for bad in [
            String::new(),
            "0000".into(),
            "zzzz".into(),
            "0001".into(),
            pkt("not a command\n") + "0000",
            format!("00ff{Z} {A} refs/heads/x"),
            pkt(&format!("{Z} {A}\n")) + "0000",
            pkt(&format!("{Z} {A} refs/heads/x\n")),
        ] {
            assert!(ref_updates(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
