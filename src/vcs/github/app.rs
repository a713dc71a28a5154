//! The GitHub App: its RS256 JWT (`iss` app id, `iat` now − 60 s, `exp` now + 9 min; the
//! claims and encoding are pure, the signature is WebCrypto's RSASSA-PKCS1-v1_5 SHA-256, so
//! no RSA code is in the upload), and the installation token it buys, kept per isolate until
//! 5 minutes before it expires, with one exchange at a time (the others wait for it).

use std::cell::RefCell;
use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use super::responses::{self, InstallationToken};
use super::{requests, AppConfig, Config};
use crate::raw::Object;
use crate::vcs::{call, Failure};

/// A token this close to its expiry is replaced.
pub const REFRESH_MARGIN_MS: i64 = 5 * 60 * 1000;

/// The DER bytes of a PKCS#8 PEM private key (`\n` written as two characters is accepted,
/// as secrets are often stored that way).
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>, Failure> {
    let pem = pem.replace("\\n", "\n");
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        // PKCS#1: GitHub's download format; WebCrypto wants PKCS#8.
        return Err(Failure::Config(
            "GITHUB_APP_PRIVATE_KEY (convert it to PKCS#8)",
        ));
    }
    let body = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END PRIVATE KEY-----").next())
        .ok_or(Failure::Config("GITHUB_APP_PRIVATE_KEY"))?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(b64)
        .map_err(|_| Failure::Config("GITHUB_APP_PRIVATE_KEY"))
}

/// The JWT's `header.payload`, to be signed, for the App `app_id` at `now_ms`.
pub fn signing_input(app_id: &str, now_ms: i64) -> String {
    let now = now_ms.div_euclid(1000);
    let claims = Object::new()
        .field("iat", &(now - 60))
        .field("exp", &(now + 9 * 60));
    let claims = match app_id.trim().parse::<u64>() {
        Ok(n) => claims.field("iss", &n),
        Err(_) => claims.field("iss", app_id.trim()),
    }
    .end();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims)
    )
}

/// The signed JWT.
pub fn jwt(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Whether a kept token may still be used at `now_ms`.
pub fn usable(token: &InstallationToken, now_ms: i64) -> bool {
    now_ms < token.expires_at - REFRESH_MARGIN_MS
}

/// Signs `data` with the PKCS#8 DER key through the runtime's WebCrypto.
async fn sign_rs256(der: &[u8], data: &[u8]) -> Result<Vec<u8>, Failure> {
    use worker::js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
    use worker::wasm_bindgen::{JsCast, JsValue};
    use worker::wasm_bindgen_futures::JsFuture;

    let fail = |_: JsValue| Failure::Config("GITHUB_APP_PRIVATE_KEY (WebCrypto refused it)");
    let get = |target: &JsValue, name: &str| Reflect::get(target, &JsValue::from_str(name));
    let subtle = get(
        &get(&worker::js_sys::global(), "crypto").map_err(fail)?,
        "subtle",
    )
    .map_err(fail)?;
    let method = |name: &str| -> Result<Function, Failure> {
        get(&subtle, name)
            .map_err(fail)?
            .dyn_into::<Function>()
            .map_err(|_| fail(JsValue::NULL))
    };
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"RSASSA-PKCS1-v1_5".into()).map_err(fail)?;
    Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into()).map_err(fail)?;
    let args = Array::of5(
        &"pkcs8".into(),
        &Uint8Array::from(der).into(),
        &algorithm,
        &JsValue::FALSE,
        &Array::of1(&"sign".into()),
    );
    let imported = method("importKey")?.apply(&subtle, &args).map_err(fail)?;
    let key = JsFuture::from(Promise::from(imported))
        .await
        .map_err(fail)?;
    let signed = method("sign")?
        .call3(&subtle, &algorithm, &key, &Uint8Array::from(data))
        .map_err(fail)?;
    let signature = JsFuture::from(Promise::from(signed)).await.map_err(fail)?;
    Ok(Uint8Array::new(&signature).to_vec())
}

/// Buys a new installation token with a fresh JWT (for the one repository `repo`, if given).
async fn exchange(
    cfg: Config,
    app: AppConfig,
    repo: Option<String>,
) -> Result<InstallationToken, Failure> {
    let der = pem_to_der(&app.private_key_pem)?;
    let input = signing_input(&app.app_id, crate::clock::now_ms());
    let signature = sign_rs256(&der, input.as_bytes()).await?;
    let jwt = jwt(&input, &signature);
    let req = requests::installation_token(&cfg, &app.installation_id, &jwt, repo.as_deref())?;
    call(&req, responses::installation_token).await
}

/// How long a caller waits for another caller's exchange before making its own.
const WAIT_LIMIT_MS: i64 = 15_000;
const WAIT_STEP_MS: u64 = 25;

/// This isolate's installation token for one App installation (and scope), and the exchange
/// under way. Only plain values are shared: a request may not await I/O begun by another
/// request (or another Durable Object), so callers wait for the holder's answer by looking
/// again.
#[derive(Default)]
struct Kept {
    token: Option<InstallationToken>,
    /// When the exchange under way began.
    under_way_since: Option<i64>,
    /// The last exchange's failure and when it ended.
    failed: Option<(i64, Failure)>,
}

/// What a caller should do, from what is kept, at `now_ms`, having begun waiting at `since`.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Use(String),
    Fail(Failure),
    Exchange,
    Wait,
}

fn step(kept: &Kept, since: i64, now_ms: i64) -> Step {
    if let Some(t) = kept.token.as_ref().filter(|t| usable(t, now_ms)) {
        return Step::Use(t.token.clone());
    }
    if let Some((at, failure)) = &kept.failed {
        if *at >= since {
            return Step::Fail(failure.clone());
        }
    }
    match kept.under_way_since {
        Some(began) if now_ms - began < WAIT_LIMIT_MS && now_ms - since < WAIT_LIMIT_MS => {
            Step::Wait
        }
        _ => Step::Exchange,
    }
}

/// The most scopes kept at once (one per repository an isolate's sessions work on).
const MAX_KEPT: usize = 64;

thread_local! {
    static KEPT: RefCell<HashMap<String, Kept>> = RefCell::default();
}

/// The App installation's token: the kept one while usable, else one exchange at a time in
/// this isolate (others wait for its answer). For the whole installation (`repo` `None`: the
/// control plane's own REST calls), or for one repository's git (`Some(name)`).
pub async fn installation_token(cfg: &Config, repo: Option<&str>) -> Result<String, Failure> {
    let app = cfg.app.clone().ok_or(Failure::Config(
        "GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID",
    ))?;
    let key = format!(
        "{}|{}|{}|{}",
        cfg.api_url,
        app.app_id,
        app.installation_id,
        repo.unwrap_or("*")
    );
    let since = crate::clock::now_ms();
    loop {
        let now = crate::clock::now_ms();
        let next = KEPT.with(|kept| {
            let mut kept = kept.borrow_mut();
            if kept.len() >= MAX_KEPT && !kept.contains_key(&key) {
                kept.retain(|_, k| k.under_way_since.is_some());
            }
            let k = kept.entry(key.clone()).or_default();
            let next = step(k, since, now);
            if next == Step::Exchange {
                k.under_way_since = Some(now);
            }
            next
        });
        match next {
            Step::Use(token) => return Ok(token),
            Step::Fail(failure) => return Err(failure),
            Step::Wait => {
                worker::Delay::from(std::time::Duration::from_millis(WAIT_STEP_MS)).await;
            }
            Step::Exchange => {
                let answer = exchange(cfg.clone(), app, repo.map(str::to_string)).await;
                KEPT.with(|kept| {
                    if let Some(k) = kept.borrow_mut().get_mut(&key) {
                        k.under_way_since = None;
                        match &answer {
                            Ok(t) => k.token = Some(t.clone()),
                            Err(f) => k.failed = Some((crate::clock::now_ms(), f.clone())),
                        }
                    }
                });
                return answer.map(|t| t.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_bodies_decode_and_pkcs1_is_refused() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAEC\nAwQ=\n-----END PRIVATE KEY-----\n";
        assert_eq!(pem_to_der(pem).unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(
            pem_to_der(&pem.replace('\n', "\\n")).unwrap(),
            vec![0, 1, 2, 3, 4]
        );
        assert!(
            pem_to_der("-----BEGIN RSA PRIVATE KEY-----\nAAEC\n-----END RSA PRIVATE KEY-----")
                .is_err()
        );
        assert!(pem_to_der("junk").is_err());
    }

    #[test]
    fn jwt_claims() {
        let input = signing_input("12345", 1_700_000_000_500);
        let (header, payload) = input.split_once('.').unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({"iat": 1_699_999_940, "exp": 1_700_000_540, "iss": 12345})
        );
        assert_eq!(jwt("a.b", &[0xff]), "a.b._w");
    }

    #[test]
    fn one_exchange_at_a_time_and_waiters_share_its_answer() {
        let kept = |token: Option<i64>, under_way: Option<i64>, failed: Option<i64>| Kept {
            token: token.map(|expires_at| InstallationToken {
                token: "ghs_x".into(),
                expires_at,
            }),
            under_way_since: under_way,
            failed: failed.map(|at| (at, Failure::Network("down".into()))),
        };
        let hour = 3_600_000;
        assert_eq!(
            step(&kept(Some(hour), None, None), 0, 1000),
            Step::Use("ghs_x".into())
        );
        assert_eq!(step(&kept(None, None, None), 0, 1000), Step::Exchange);
        assert_eq!(step(&kept(Some(1000), None, None), 0, 1000), Step::Exchange);
        assert_eq!(step(&kept(None, Some(900), None), 900, 1000), Step::Wait);
        // The holder failed after we began waiting: its failure is ours.
        assert!(matches!(
            step(&kept(None, None, Some(950)), 900, 1000),
            Step::Fail(_)
        ));
        // An old failure is not: try again.
        assert_eq!(
            step(&kept(None, None, Some(100)), 900, 1000),
            Step::Exchange
        );
        // A holder that never answers is not waited for forever.
        let late = 900 + WAIT_LIMIT_MS;
        assert_eq!(
            step(&kept(None, Some(900), None), 900, late),
            Step::Exchange
        );
    }

    #[test]
    fn tokens_are_replaced_five_minutes_early() {
        let t = InstallationToken {
            token: "ghs_x".into(),
            expires_at: 3_600_000,
        };
        assert!(usable(&t, 3_600_000 - REFRESH_MARGIN_MS - 1));
        assert!(!usable(&t, 3_600_000 - REFRESH_MARGIN_MS));
    }
}
