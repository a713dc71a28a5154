//! Who may sign in, by Open-Inspect's settings and one of ours: `ALLOWED_USERS` (GitHub
//! logins), `ALLOWED_EMAILS`, `ALLOWED_EMAIL_DOMAINS` (the account's verified primary
//! address), `ALLOWED_GITHUB_ORGS` (active membership), `ALLOWED_BITBUCKET_WORKSPACES`
//! (membership, checked at sign-in) and `UNSAFE_ALLOW_ALL_USERS` (only when no list is set).
//! Lists are comma-separated, trimmed and compared in lowercase. Pure: the shell gathers
//! the facts a rule needs ([`Admission::needs_orgs`], [`Admission::needs_workspaces`]).

use crate::identity::settings::Provider;

/// The admission rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    pub users: Vec<String>,
    pub emails: Vec<String>,
    pub domains: Vec<String>,
    pub github_orgs: Vec<String>,
    pub bitbucket_workspaces: Vec<String>,
    pub allow_all: bool,
}

/// What is known of someone signing in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applicant {
    pub provider: Option<Provider>,
    pub login: Option<String>,
    /// The verified primary address.
    pub email: Option<String>,
    /// The GitHub organizations (of [`Admission::github_orgs`]) they are an active member of.
    pub orgs: Vec<String>,
    /// Their Bitbucket workspaces.
    pub workspaces: Vec<String>,
}

fn list(get: &impl Fn(&str) -> Option<String>, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in get(name).unwrap_or_default().split(',') {
        let item = item.trim().to_ascii_lowercase();
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

impl Admission {
    pub fn read(get: &impl Fn(&str) -> Option<String>) -> Self {
        let flag = get("UNSAFE_ALLOW_ALL_USERS")
            .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1"));
        Admission {
            users: list(get, "ALLOWED_USERS"),
            emails: list(get, "ALLOWED_EMAILS"),
            domains: list(get, "ALLOWED_EMAIL_DOMAINS"),
            github_orgs: list(get, "ALLOWED_GITHUB_ORGS"),
            bitbucket_workspaces: list(get, "ALLOWED_BITBUCKET_WORKSPACES"),
            allow_all: flag,
        }
    }

    fn no_list(&self) -> bool {
        self.users.is_empty()
            && self.emails.is_empty()
            && self.domains.is_empty()
            && self.github_orgs.is_empty()
            && self.bitbucket_workspaces.is_empty()
    }

    /// Whether a GitHub applicant's organization memberships must be looked up.
    pub fn needs_orgs(&self, provider: Provider) -> bool {
        provider == Provider::Github && !self.github_orgs.is_empty()
    }

    /// Whether a Bitbucket applicant's workspaces must be looked up.
    pub fn needs_workspaces(&self, provider: Provider) -> bool {
        provider == Provider::Bitbucket && !self.bitbucket_workspaces.is_empty()
    }

    /// Admits `who`, or says why not (a message for the person signing in).
    pub fn admit(&self, who: &Applicant) -> Result<(), String> {
        if self.no_list() {
            return if self.allow_all {
                Ok(())
            } else {
                Err("this deployment admits no one yet: its admission settings are empty".into())
            };
        }
        let lower = |s: &Option<String>| s.as_deref().map(str::to_ascii_lowercase);
        let email = lower(&who.email);
        let github = who.provider == Some(Provider::Github);
        let bitbucket = who.provider == Some(Provider::Bitbucket);
        let by_login = github && lower(&who.login).is_some_and(|l| self.users.contains(&l));
        let by_email = email.as_ref().is_some_and(|e| self.emails.contains(e));
        let by_domain = email
            .as_ref()
            .and_then(|e| e.rsplit_once('@'))
            .is_some_and(|(_, d)| self.domains.iter().any(|x| x == d));
        let by_org = github
            && who
                .orgs
                .iter()
                .any(|o| self.github_orgs.contains(&o.to_ascii_lowercase()));
        let by_workspace = bitbucket
            && who
                .workspaces
                .iter()
                .any(|w| self.bitbucket_workspaces.contains(&w.to_ascii_lowercase()));
        if by_login || by_email || by_domain || by_org || by_workspace {
            Ok(())
        } else {
            Err("this account is not admitted to this deployment".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn rules(pairs: &[(&str, &str)]) -> Admission {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        Admission::read(&|k: &str| map.get(k).map(|v| v.to_string()))
    }

    fn bitbucket(email: &str, workspaces: &[&str]) -> Applicant {
        Applicant {
            provider: Some(Provider::Bitbucket),
            login: Some("ada".into()),
            email: Some(email.into()),
            workspaces: workspaces.iter().map(|w| w.to_string()).collect(),
            ..Applicant::default()
        }
    }

    #[test]
    fn nobody_without_rules_unless_explicitly_everybody() {
        assert!(rules(&[]).admit(&bitbucket("a@x.io", &[])).is_err());
        let all = rules(&[("UNSAFE_ALLOW_ALL_USERS", "true")]);
        assert!(all.admit(&bitbucket("a@x.io", &[])).is_ok());
        // The flag does not widen a list that is set.
        let both = rules(&[
            ("UNSAFE_ALLOW_ALL_USERS", "true"),
            ("ALLOWED_EMAILS", "b@x.io"),
        ]);
        assert!(both.admit(&bitbucket("a@x.io", &[])).is_err());
    }

    #[test]
    fn each_rule_admits_what_it_names() {
        let r = rules(&[
            ("ALLOWED_EMAILS", " Ada@Example.com , x@y.z"),
            ("ALLOWED_EMAIL_DOMAINS", "acme.io"),
            ("ALLOWED_BITBUCKET_WORKSPACES", "Acme-Team"),
            ("ALLOWED_USERS", "octocat"),
            ("ALLOWED_GITHUB_ORGS", "acme"),
        ]);
        assert!(r.admit(&bitbucket("ada@example.com", &[])).is_ok());
        assert!(r.admit(&bitbucket("bob@acme.io", &[])).is_ok());
        assert!(r.admit(&bitbucket("bob@notacme.io", &[])).is_err());
        assert!(r.admit(&bitbucket("bob@other.io", &["acme-team"])).is_ok());
        assert!(r.admit(&bitbucket("bob@other.io", &["other"])).is_err());
        // GitHub logins and organizations count for GitHub accounts only.
        let gh = |login: &str, orgs: &[&str]| Applicant {
            provider: Some(Provider::Github),
            login: Some(login.into()),
            email: Some("z@other.io".into()),
            orgs: orgs.iter().map(|o| o.to_string()).collect(),
            ..Applicant::default()
        };
        assert!(r.admit(&gh("OctoCat", &[])).is_ok());
        assert!(r.admit(&gh("someone", &["ACME"])).is_ok());
        assert!(r.admit(&gh("someone", &[])).is_err());
        let mut bb_octocat = bitbucket("z@other.io", &[]);
        bb_octocat.login = Some("octocat".into());
        assert!(r.admit(&bb_octocat).is_err());
        assert!(r.needs_workspaces(Provider::Bitbucket) && !r.needs_workspaces(Provider::Github));
        assert!(r.needs_orgs(Provider::Github) && !r.needs_orgs(Provider::Bitbucket));
    }
}
