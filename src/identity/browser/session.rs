//! The browser session: get-session (extended once a day), sign-out, and the page a failed
//! sign-in lands on.

use super::*;

/// `GET /api/auth/get-session`: `{session, user}`, or `null` when signed out.
pub async fn get_session(req: &Incoming, env: &Env) -> ApiResult<Response> {
    let s = settings(env)?;
    let jar = Jar { secure: s.secure };
    match current(req, env, &s).await? {
        Some((token, Some(mut session))) => {
            let users = Users::new(env)?;
            // In use: once a day the session (and its cookie) runs seven days again.
            let mut cookies = Vec::new();
            if let Some(expires_at) = users::extended_expiry(session.expires_at, now_ms()) {
                users.extend_session(&session.id, expires_at).await?;
                session.expires_at = expires_at;
                let value = cookies::sign(s.secret.as_bytes(), &token);
                cookies.push(jar.set(SESSION, &value, SESSION_TTL_MS / 1000));
            }
            let stale = users.needing_reauth(&session.user.id).await?;
            let mut body = session_json(&session);
            body["user"]["reauthRequired"] = json!(stale);
            answer(200, Some(&body), None, &cookies)
        }
        // A cookie without a live session is removed.
        Some((_, None)) => answer(200, Some(&Value::Null), None, &[jar.remove(SESSION)]),
        None => answer(200, Some(&Value::Null), None, &[]),
    }
}

/// A session as Better Auth's get-session shows it (the token itself is never answered);
/// the caller adds the user's accounts that must be connected again (`reauthRequired`).
fn session_json(s: &Session) -> Value {
    let u = &s.user;
    json!({
        "session": {
            "id": s.id,
            "userId": u.id,
            "expiresAt": iso8601(s.expires_at),
            "createdAt": iso8601(s.created_at),
            "updatedAt": iso8601(s.updated_at),
            "ipAddress": s.ip_address,
            "userAgent": s.user_agent,
        },
        "user": {
            "id": u.id,
            "name": u.name,
            "email": u.email,
            "emailVerified": u.email_verified,
            "image": u.image,
            "createdAt": iso8601(u.created_at),
            "updatedAt": iso8601(u.updated_at),
        },
    })
}

/// `POST /api/auth/sign-out`: ends the session and removes its cookie.
pub async fn sign_out(req: &Incoming, env: &Env) -> ApiResult<Response> {
    let s = settings(env)?;
    same_origin(req, &s)?;
    if let Some((token, _)) = current(req, env, &s).await? {
        Users::new(env)?.end_session(&token).await?;
    }
    let jar = Jar { secure: s.secure };
    answer(
        200,
        Some(&json!({ "success": true })),
        None,
        &[jar.remove(SESSION)],
    )
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// `GET /api/auth/error`: a page saying why the sign-in failed (`error`, and its
/// description).
pub fn error_page(req: &Incoming) -> ApiResult<Response> {
    let (mut code, mut description) = ("UNKNOWN".to_string(), None);
    for (k, v) in req.query_pairs() {
        match k.as_str() {
            "error"
                if v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "'_-".contains(c)) =>
            {
                code = v
            }
            "error_description" => description = Some(v),
            _ => {}
        }
    }
    let message = description.unwrap_or_else(|| "Signing in did not complete.".into());
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in failed</title></head>\
         <body><main><h1>Sign-in failed</h1><p>{}</p><p><code>{}</code></p><p><a href=\"/\">Back</a></p></main></body></html>",
        escape(&message),
        escape(&code)
    );
    let headers = Headers::new();
    headers.set("content-type", "text/html; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    headers.set("referrer-policy", "no-referrer")?;
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(html.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_page_escapes_what_it_shows() {
        assert_eq!(
            escape("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
