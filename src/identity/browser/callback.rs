//! The provider's callback: the code exchanged, the person read and admitted, their user and
//! tokens stored and their session started, or the account connected to the signed-in user;
//! every failure sent to the error page with its reason.

use super::*;

/// The error page's address for `stop` (the caller's error callback, else ours).
fn error_location(s: &Settings, flow: Option<&Flow>, stop: &Stop) -> String {
    let base = flow
        .and_then(|f| f.error_callback.clone())
        .unwrap_or_else(|| format!("{}/api/auth/error", s.web_origin));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("error", stop.code)
        .append_pair("error_description", &stop.message)
        .finish();
    let joiner = if base.contains('?') { '&' } else { '?' };
    format!("{base}{joiner}{query}")
}

/// A provider's failure as the reason a sign-in stops.
fn upstream_stop(provider: Provider, failure: Failure) -> Stop {
    let e = ApiError::from(vcs::VcsError {
        provider: vcs_provider(provider).unwrap_or_default(),
        failure,
    });
    log::warn(
        "a sign-in failed at the provider",
        &[
            ("provider", provider.as_str().into()),
            ("detail", e.message.clone().into()),
        ],
    );
    Stop {
        code: "provider_error",
        message: format!(
            "{} did not complete the sign-in: {}",
            provider.display_name(),
            e.message
        ),
    }
}

/// Who signed in, the tokens they granted (kept for a forge, not for Google), and what
/// admission needs to know of them.
struct SignedIn {
    profile: Profile,
    grant: Option<TokenGrant>,
    applicant: Applicant,
}

async fn bitbucket_sign_in(env: &Env, s: &Settings, code: &str) -> Result<SignedIn, Stop> {
    let p = Provider::Bitbucket;
    let cfg = config::bitbucket(env);
    let grant = vcs::bitbucket::client::exchange_code(&cfg, code)
        .await
        .map_err(|e| upstream_stop(p, e))?;
    if grant.refresh_token.is_none() {
        return Err(Stop {
            code: "no_refresh_token",
            message: "Bitbucket issued no refresh token, so this sign-in would end in two hours. \
                      The OAuth consumer must be private: in Bitbucket, open the workspace's \
                      settings, OAuth consumers, edit this consumer and check \"This is a \
                      private consumer\"."
                .into(),
        });
    }
    let client = vcs::bitbucket::client::Client::new(&cfg, &grant.access_token);
    let identity = client.identity().await.map_err(|e| upstream_stop(p, e))?;
    let workspaces = if s.admission.needs_workspaces(p) {
        client.workspaces().await.map_err(|e| upstream_stop(p, e))?
    } else {
        Vec::new()
    };
    signed_in(p, identity, grant, Vec::new(), workspaces)
}

async fn github_sign_in(
    env: &Env,
    s: &Settings,
    code: &str,
    flow: &Flow,
) -> Result<SignedIn, Stop> {
    let p = Provider::Github;
    let cfg = config::github(env);
    let verifier = flow.verifier.as_deref().unwrap_or_default();
    let grant = vcs::github::client::exchange_code(&cfg, code, &s.callback_url(p), verifier)
        .await
        .map_err(|e| upstream_stop(p, e))?;
    let client = vcs::github::client::Client::user(&cfg, &grant.access_token);
    let identity = client
        .verified_identity()
        .await
        .map_err(|e| upstream_stop(p, e))?;
    let mut orgs = Vec::new();
    if s.admission.needs_orgs(p) {
        for org in &s.admission.github_orgs {
            if client
                .active_member_of(org)
                .await
                .map_err(|e| upstream_stop(p, e))?
            {
                orgs.push(org.clone());
            }
        }
    }
    signed_in(p, identity, grant, orgs, Vec::new())
}

async fn google_sign_in(
    env: &Env,
    s: &Settings,
    code: &str,
    flow: &Flow,
) -> Result<SignedIn, Stop> {
    let p = Provider::Google;
    let cfg = config::google(env);
    let verifier = flow.verifier.as_deref().unwrap_or_default();
    let stop = |e| upstream_stop(p, e);
    let exchange = google::exchange_code(&cfg, code, &s.callback_url(p), verifier).map_err(stop)?;
    let access = vcs::call(&exchange, google::access_token)
        .await
        .map_err(stop)?;
    let who = google::userinfo(&cfg, &access).map_err(stop)?;
    let profile = vcs::call(&who, google::profile).await.map_err(stop)?;
    Ok(SignedIn {
        applicant: Applicant {
            provider: Some(p),
            email: profile.email.clone(),
            ..Applicant::default()
        },
        profile,
        grant: None,
    })
}

fn signed_in(
    provider: Provider,
    identity: vcs::Identity,
    grant: TokenGrant,
    orgs: Vec<String>,
    workspaces: Vec<String>,
) -> Result<SignedIn, Stop> {
    let account_id = identity.user_id.clone().ok_or_else(|| Stop {
        code: "unable_to_get_user_info",
        message: format!("{} did not say who signed in.", provider.display_name()),
    })?;
    Ok(SignedIn {
        applicant: Applicant {
            provider: Some(provider),
            login: identity.login.clone(),
            email: identity.email.clone(),
            orgs,
            workspaces,
        },
        profile: Profile {
            account_id,
            login: identity.login,
            name: identity.name,
            email: identity.email,
            image: None,
        },
        grant: Some(grant),
    })
}

fn query(req: &Incoming) -> Callback {
    let mut back = Callback::default();
    for (k, v) in req.query_pairs() {
        match k.as_str() {
            "code" => back.code = Some(v),
            "state" => back.state = Some(v),
            "error" => back.error = Some(v),
            "error_description" => back.error_description = Some(v),
            _ => {}
        }
    }
    back
}

/// `GET /api/auth/callback/{provider}`: completes a sign-in and sends the browser back to
/// the web app signed in, or to the error page with the reason.
pub async fn callback(req: &Incoming, env: &Env, provider: Provider) -> ApiResult<Response> {
    let s = settings(env)?;
    let jar = Jar { secure: s.secure };
    let secret = s.secret.as_bytes();
    let flow = jar
        .read(&cookie_header(req)?, FLOW, secret)
        .and_then(|v| Flow::decode(&v));
    let back = query(req);
    let clear_flow = jar.remove(FLOW);
    let fail = |flow: Option<&Flow>, stop: Stop| {
        answer(
            302,
            None,
            Some(&error_location(&s, flow, &stop)),
            std::slice::from_ref(&clear_flow),
        )
    };
    if !s.offers(provider) {
        let stop = Stop {
            code: "provider_not_found",
            message: format!(
                "Sign-in with {} is not offered here.",
                provider.display_name()
            ),
        };
        return fail(flow.as_ref(), stop);
    }
    let (code, flow) = match (flow::check(provider, flow.as_ref(), &back, now_ms()), flow) {
        (Ok(code), Some(flow)) => (code, flow),
        (Err(stop), flow) => return fail(flow.as_ref(), stop),
        (Ok(_), None) => return Err(ApiError::internal("a checked flow is missing")),
    };
    let signed = match provider {
        Provider::Bitbucket => bitbucket_sign_in(env, &s, &code).await,
        Provider::Github => github_sign_in(env, &s, &code, &flow).await,
        Provider::Google => google_sign_in(env, &s, &code, &flow).await,
    };
    let signed = match signed {
        Ok(signed) => signed,
        Err(stop) => return fail(Some(&flow), stop),
    };
    if let Some(user_id) = &flow.link_user {
        return connect(req, env, &s, &flow, user_id, signed, fail).await;
    }
    if let Err(why) = s.admission.admit(&signed.applicant) {
        let stop = Stop {
            code: "access_denied",
            message: format!("You cannot sign in: {why}."),
        };
        return fail(Some(&flow), stop);
    }
    let users = Users::new(env)?;
    let user_id = users.sign_in(provider, &signed.profile).await?;
    if let Some(grant) = &signed.grant {
        store_tokens(env, provider, &user_id, grant).await?;
    }
    let headers = req.headers();
    let ip = headers.get("x-openinspect-client-ip")?;
    let agent = headers.get("user-agent")?;
    let token = users
        .start_session(&user_id, ip.as_deref(), agent.as_deref())
        .await?;
    log::emit(
        log::Level::Info,
        "signed in",
        &[
            ("provider", provider.as_str().into()),
            ("userId", user_id.into()),
        ],
    );
    let session = jar.set(
        SESSION,
        &cookies::sign(secret, &token),
        SESSION_TTL_MS / 1000,
    );
    answer(302, None, Some(&flow.callback), &[clear_flow, session])
}

/// Keeps a grant as the user's credentials at `provider` (sealed; refreshed by the refresher).
async fn store_tokens(
    env: &Env,
    provider: Provider,
    user_id: &str,
    grant: &TokenGrant,
) -> ApiResult<()> {
    if let Some(vp) = vcs_provider(provider) {
        let offer = Offer {
            access_token: &grant.access_token,
            refresh_token: grant.refresh_token.as_deref(),
            expires_at: Some(now_ms() + grant.expires_in_secs * 1000),
        };
        Credentials::new(env, vp)?.offer(user_id, &offer).await?;
    }
    Ok(())
}

/// Completes connecting an account to `user_id`, who must still be the browser's
/// signed-in user; another user's account is refused.
async fn connect(
    req: &Incoming,
    env: &Env,
    s: &Settings,
    flow: &Flow,
    user_id: &str,
    signed: SignedIn,
    fail: impl Fn(Option<&Flow>, Stop) -> ApiResult<Response>,
) -> ApiResult<Response> {
    let provider = flow.provider;
    let current = current(req, env, s).await?.and_then(|(_, session)| session);
    if current.map(|session| session.user.id).as_deref() != Some(user_id) {
        let stop = Stop {
            code: "state_mismatch",
            message: "The user who started connecting this account is no longer signed in here."
                .into(),
        };
        return fail(Some(flow), stop);
    }
    let users = Users::new(env)?;
    if users
        .link(user_id, provider, &signed.profile)
        .await?
        .is_err()
    {
        let name = provider.display_name();
        let stop = Stop {
            code: "account_already_linked",
            message: format!("This {name} account is connected to another user."),
        };
        return fail(Some(flow), stop);
    }
    if let Some(grant) = &signed.grant {
        store_tokens(env, provider, user_id, grant).await?;
    }
    let jar = Jar { secure: s.secure };
    answer(302, None, Some(&flow.callback), &[jar.remove(FLOW)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_page_address_carries_the_reason() {
        let s = Settings::read(|k| {
            match k {
                "BROWSER_AUTH_SECRET" => Some("0123456789abcdef0123456789abcdef"),
                "WEB_APP_URL" => Some("https://app.example.com"),
                "GITHUB_CLIENT_ID" | "GITHUB_CLIENT_SECRET" => Some("x"),
                _ => None,
            }
            .map(str::to_string)
        })
        .unwrap();
        let stop = Stop {
            code: "access_denied",
            message: "You cancelled & left".into(),
        };
        assert_eq!(
            error_location(&s, None, &stop),
            "https://app.example.com/api/auth/error?error=access_denied&error_description=You+cancelled+%26+left"
        );
    }
}
