//! Browser sign-in's settings, read from the environment by a lookup and checked as
//! Open-Inspect checks them: `BROWSER_AUTH_SECRET` (at least 32 characters), `WEB_APP_URL`
//! (an https origin, or http on a loopback host), the offered providers
//! (`SIGN_IN_PROVIDERS`, each with its OAuth client configured), and who is admitted.
//! Pure.

use url::Url;

use crate::identity::admission::Admission;

/// A way to sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Github,
    Google,
    Bitbucket,
}

crate::wire::wire_names!(Provider {
    Github => "github",
    Google => "google",
    Bitbucket => "bitbucket",
});

impl Provider {
    /// The order of the web app's own list (its login page refuses another).
    const ORDER: [Provider; 3] = [Provider::Github, Provider::Google, Provider::Bitbucket];

    /// The provider's name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Github => "GitHub",
            Provider::Google => "Google",
            Provider::Bitbucket => "Bitbucket",
        }
    }

    /// The settings of its OAuth client.
    fn client_settings(self) -> (&'static str, &'static str) {
        match self {
            Provider::Github => ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"),
            Provider::Google => ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"),
            Provider::Bitbucket => ("BITBUCKET_CLIENT_ID", "BITBUCKET_CLIENT_SECRET"),
        }
    }
}

/// The list an unpatched web app can show: it has buttons for these two only.
const DEFAULT_PROVIDERS: &str = "github,google";

/// Checked sign-in settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Signs cookies and the sign-in flow.
    pub secret: String,
    /// The web app's origin (`https://app.example.com`): the callback URLs and redirects.
    pub web_origin: String,
    /// Whether the web app is https (then its cookies are `__Secure-`).
    pub secure: bool,
    /// The providers offered, in the web app's order.
    pub providers: Vec<Provider>,
    pub admission: Admission,
}

impl Settings {
    /// Reads and checks the settings; the error says what to fix (never a secret).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let secret = get("BROWSER_AUTH_SECRET")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or("BROWSER_AUTH_SECRET is not configured")?;
        if secret.chars().count() < 32 {
            return Err("BROWSER_AUTH_SECRET must be at least 32 characters".into());
        }
        let web = get("WEB_APP_URL").ok_or("WEB_APP_URL is not configured")?;
        let (web_origin, secure) = web_origin(&web)?;
        let wanted = get("SIGN_IN_PROVIDERS").unwrap_or_else(|| DEFAULT_PROVIDERS.into());
        let mut named = Vec::new();
        for name in wanted.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let provider = Provider::parse(&name.to_ascii_lowercase())
                .ok_or_else(|| format!("SIGN_IN_PROVIDERS names an unknown provider: {name}"))?;
            named.push(provider);
        }
        let configured = |p: Provider| {
            let (id, secret) = p.client_settings();
            get(id).is_some() && get(secret).is_some()
        };
        let providers: Vec<Provider> = Provider::ORDER
            .into_iter()
            .filter(|p| named.contains(p) && configured(*p))
            .collect();
        if providers.is_empty() {
            return Err(
                "no sign-in provider is offered: SIGN_IN_PROVIDERS must name github, google or \
                 bitbucket with its client id and secret set"
                    .into(),
            );
        }
        Ok(Settings {
            secret,
            web_origin,
            secure,
            providers,
            admission: Admission::read(&get),
        })
    }

    /// Whether sign-in with `provider` is offered.
    pub fn offers(&self, provider: Provider) -> bool {
        self.providers.contains(&provider)
    }

    /// Where the provider sends the browser back: the web app's proxy of our callback.
    pub fn callback_url(&self, provider: Provider) -> String {
        format!(
            "{}/api/auth/callback/{}",
            self.web_origin,
            provider.as_str()
        )
    }

    /// A redirect target the caller gave (a path on the web app, or a URL of its origin),
    /// made absolute; anything else is refused.
    pub fn redirect_target(&self, given: &str) -> Option<String> {
        if let Some(path) = given.strip_prefix('/') {
            let safe = !path.starts_with(['/', '\\'])
                && !path.to_ascii_lowercase().starts_with("%2f")
                && !path.to_ascii_lowercase().starts_with("%5c")
                && !path.chars().any(|c| c.is_whitespace() || c.is_control());
            return safe.then(|| format!("{}/{path}", self.web_origin));
        }
        let url = Url::parse(given).ok()?;
        (url.origin().ascii_serialization() == self.web_origin).then(|| url.to_string())
    }
}

/// `WEB_APP_URL` as an origin, and whether it is https.
fn web_origin(given: &str) -> Result<(String, bool), String> {
    let url = Url::parse(given.trim()).map_err(|_| "WEB_APP_URL is invalid".to_string())?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let bare = url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    match url.scheme() {
        "https" if bare => Ok((url.origin().ascii_serialization(), true)),
        "http" if bare && loopback => Ok((url.origin().ascii_serialization(), false)),
        _ => Err("WEB_APP_URL must be an HTTPS origin or an HTTP loopback origin".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::read(|k| map.get(k).cloned())
    }

    const BASE: &[(&str, &str)] = &[
        ("BROWSER_AUTH_SECRET", "0123456789abcdef0123456789abcdef"),
        ("WEB_APP_URL", "https://app.example.com/"),
        ("GITHUB_CLIENT_ID", "gh"),
        ("GITHUB_CLIENT_SECRET", "ghs"),
        ("BITBUCKET_CLIENT_ID", "bb"),
        ("BITBUCKET_CLIENT_SECRET", "bbs"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Settings, String> {
        let mut all = BASE.to_vec();
        all.extend_from_slice(extra);
        read(&all)
    }

    #[test]
    fn an_unpatched_web_app_is_offered_only_what_it_has_buttons_for() {
        let s = with(&[]).unwrap();
        assert_eq!(s.providers, vec![Provider::Github]);
        assert_eq!(s.web_origin, "https://app.example.com");
        assert!(s.secure);
        let s = with(&[("SIGN_IN_PROVIDERS", "bitbucket, github")]).unwrap();
        assert_eq!(s.providers, vec![Provider::Github, Provider::Bitbucket]);
        assert!(s.offers(Provider::Bitbucket) && !s.offers(Provider::Google));
        let s = with(&[("SIGN_IN_PROVIDERS", "bitbucket,google")]).unwrap();
        assert_eq!(
            s.providers,
            vec![Provider::Bitbucket],
            "google is not offered"
        );
        assert!(with(&[("SIGN_IN_PROVIDERS", "gitlab")]).is_err());
        assert!(with(&[("SIGN_IN_PROVIDERS", "google")]).is_err());
    }

    #[test]
    fn the_secret_and_the_web_origin_are_checked() {
        let mut short = BASE.to_vec();
        short[0] = ("BROWSER_AUTH_SECRET", "too-short");
        assert!(read(&short).unwrap_err().contains("32"));
        for (web, ok) in [
            ("http://localhost:3000", true),
            ("http://127.0.0.1:3000/", true),
            ("http://app.example.com", false),
            ("https://app.example.com/path", false),
            ("https://u:p@app.example.com", false),
            ("not a url", false),
        ] {
            let mut v = BASE.to_vec();
            v[1] = ("WEB_APP_URL", web);
            assert_eq!(read(&v).is_ok(), ok, "{web}");
        }
        let mut local = BASE.to_vec();
        local[1] = ("WEB_APP_URL", "http://localhost:3000");
        assert!(!read(&local).unwrap().secure);
    }

    #[test]
    fn redirects_stay_on_the_web_app() {
        let s = with(&[]).unwrap();
        assert_eq!(s.redirect_target("/").unwrap(), "https://app.example.com/");
        assert_eq!(
            s.redirect_target("/sessions/x?tab=1").unwrap(),
            "https://app.example.com/sessions/x?tab=1"
        );
        assert_eq!(
            s.redirect_target("https://app.example.com/a").unwrap(),
            "https://app.example.com/a"
        );
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/%2Fevil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "relative",
        ] {
            assert_eq!(s.redirect_target(bad), None, "{bad}");
        }
        assert_eq!(
            s.callback_url(Provider::Bitbucket),
            "https://app.example.com/api/auth/callback/bitbucket"
        );
    }
}
