//! Google sign-in's wire, sans-IO: the authorize URL (OpenID scopes, PKCE), the code
//! exchange and the userinfo call as request values, and their answers read into a grant and
//! a profile. Google's tokens only identify the person: they are not kept (Google holds no
//! repositories), so a Google user connects Bitbucket or GitHub to work on code.

use crate::identity::users::Profile;
use crate::json::{self, Field};
use crate::upstream::http::{HttpRequest, HttpResponse};
use crate::urls::Base;
use crate::vcs::{error::snippet, Failure};

pub const DEFAULT_AUTHORIZE_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const DEFAULT_USERINFO_URL: &str = "https://openidconnect.googleapis.com/v1/userinfo";

/// Where Google lives and who we are to it.
#[derive(Debug, Clone)]
pub struct Config {
    pub authorize_url: String,
    pub token_url: String,
    pub userinfo_url: String,
    pub client_id: String,
    pub client_secret: String,
}

fn url(given: &str, setting: &'static str) -> Result<url::Url, Failure> {
    Ok(Base::parse(given)
        .ok_or(Failure::Config(setting))?
        .join(&[], &[])?)
}

/// Where a person grants access: the OpenID scopes, the callback and a PKCE challenge.
pub fn authorize_url(
    cfg: &Config,
    state: &str,
    redirect_uri: &str,
    challenge: &str,
) -> Result<url::Url, Failure> {
    let mut to = url(&cfg.authorize_url, "GOOGLE_AUTHORIZE_URL")?;
    to.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &cfg.client_id)
        .append_pair("state", state)
        .append_pair("scope", "email profile openid")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge_method", "S256")
        .append_pair("code_challenge", challenge)
        .append_pair("include_granted_scopes", "true");
    Ok(to)
}

/// The code exchange, with the PKCE verifier.
pub fn exchange_code(
    cfg: &Config,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<HttpRequest, Failure> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("client_id", &cfg.client_id)
        .append_pair("client_secret", &cfg.client_secret)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_verifier", verifier)
        .finish();
    Ok(HttpRequest::post(
        url(&cfg.token_url, "GOOGLE_TOKEN_URL")?,
        "application/x-www-form-urlencoded",
        body,
    ))
}

/// The person behind an access token.
pub fn userinfo(cfg: &Config, access_token: &str) -> Result<HttpRequest, Failure> {
    Ok(HttpRequest::get(url(&cfg.userinfo_url, "GOOGLE_USERINFO_URL")?).bearer(access_token))
}

fn ok_json(resp: &HttpResponse) -> Result<serde_json::Value, Failure> {
    let body = json::parse(&resp.body).filter(serde_json::Value::is_object);
    match (resp.status, body) {
        (200..=299, Some(body)) => Ok(body),
        (200..=299, None) => Err(Failure::Parse("Google's answer is not JSON".into())),
        (400 | 401, Some(body))
            if Field::of(&body).text("error").as_deref() == Some("invalid_grant") =>
        {
            Err(Failure::Reauth("the code was refused".into()))
        }
        (status, _) => Err(Failure::Api {
            status,
            message: snippet(&resp.body),
            detail: None,
            fields: None,
        }),
    }
}

/// The access token of the exchange's answer.
pub fn access_token(resp: &HttpResponse) -> Result<String, Failure> {
    Field::of(&ok_json(resp)?)
        .text("access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Failure::Parse("Google granted no access token".into()))
}

/// The person: their `sub`, name and picture, and their address only when Google says it
/// is verified.
pub fn profile(resp: &HttpResponse) -> Result<Profile, Failure> {
    let body = ok_json(resp)?;
    let f = Field::of(&body);
    let account_id = f
        .text("sub")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Failure::Parse("Google's userinfo has no sub".into()))?;
    Ok(Profile {
        account_id,
        login: None,
        name: f.text("name").filter(|n| !n.trim().is_empty()),
        email: f.text("email").filter(|_| f.flag("email_verified")),
        image: f.text("picture"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            authorize_url: DEFAULT_AUTHORIZE_URL.into(),
            token_url: DEFAULT_TOKEN_URL.into(),
            userinfo_url: DEFAULT_USERINFO_URL.into(),
            client_id: "cid".into(),
            client_secret: "secret".into(),
        }
    }

    #[test]
    fn the_authorize_url_asks_for_openid_with_pkce() {
        let u = authorize_url(
            &cfg(),
            "st",
            "https://app.example.com/api/auth/callback/google",
            "ch",
        )
        .unwrap();
        let q: Vec<(String, String)> = u.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(u.path(), "/o/oauth2/v2/auth");
        assert_eq!(get("scope"), Some("email profile openid"));
        assert_eq!(get("code_challenge"), Some("ch"));
        assert_eq!(get("state"), Some("st"));
        let x = exchange_code(&cfg(), "c", "https://app.example.com/cb", "v").unwrap();
        let body = x.body.unwrap_or_default();
        assert!(body.contains("code_verifier=v") && body.contains("client_secret=secret"));
    }

    #[test]
    fn only_a_verified_address_counts() {
        let ok = HttpResponse::new(
            200,
            r#"{"sub":"1","name":"Ada","email":"ada@example.com","email_verified":true}"#,
        );
        assert_eq!(
            profile(&ok).unwrap().email.as_deref(),
            Some("ada@example.com")
        );
        let unverified = HttpResponse::new(
            200,
            r#"{"sub":"1","email":"ada@example.com","email_verified":false}"#,
        );
        assert_eq!(profile(&unverified).unwrap().email, None);
        assert!(profile(&HttpResponse::new(200, "{}")).is_err());
        let refused = HttpResponse::new(400, r#"{"error":"invalid_grant"}"#);
        assert!(matches!(access_token(&refused), Err(Failure::Reauth(_))));
        assert_eq!(
            access_token(&HttpResponse::new(200, r#"{"access_token":"at"}"#)).unwrap(),
            "at"
        );
    }
}
