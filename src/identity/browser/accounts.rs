//! A signed-in user's accounts: the list (each with whether it must be connected again) and
//! disconnecting one.

use super::*;

/// `GET /api/auth/list-accounts`: the signed-in user's accounts, each with its login and
/// whether it must be connected again.
pub async fn list_accounts(req: &Incoming, env: &Env) -> ApiResult<Response> {
    let s = settings(env)?;
    let user_id = required_user(req, env, &s).await?;
    let users = Users::new(env)?;
    let stale = users.needing_reauth(&user_id).await?;
    let list: Vec<Value> = users
        .accounts(&user_id)
        .await?
        .into_iter()
        .map(|a| {
            json!({
                "id": a.id,
                "providerId": a.provider,
                "accountId": a.account_id,
                "userId": user_id,
                "login": a.login,
                "scopes": [],
                "reauthRequired": stale.contains(&a.provider),
                "createdAt": iso8601(a.created_at),
                "updatedAt": iso8601(a.updated_at),
            })
        })
        .collect();
    answer(200, Some(&Value::Array(list)), None, &[])
}

/// The body of `POST /api/auth/unlink-account`: the provider (Better Auth 1.6), or the
/// account's id (1.7), or both.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Unlink {
    provider_id: Option<String>,
    account_id: Option<String>,
}

/// `POST /api/auth/unlink-account`: disconnects an account and discards its tokens; the
/// last one stays.
pub async fn unlink_account(req: &Incoming, env: &Env) -> ApiResult<Response> {
    let s = settings(env)?;
    same_origin(req, &s)?;
    let user_id = required_user(req, env, &s).await?;
    let body: Unlink = respond::body(req).await?;
    let users = Users::new(env)?;
    let accounts = users.accounts(&user_id).await?;
    let chosen = accounts.iter().find(|a| {
        body.provider_id.as_ref().is_none_or(|p| *p == a.provider)
            && body
                .account_id
                .as_ref()
                .is_none_or(|id| *id == a.id || *id == a.account_id)
            && (body.provider_id.is_some() || body.account_id.is_some())
    });
    let Some(account) = chosen else {
        return Err(ApiError::new(400, "account_not_found", "Account not found"));
    };
    if accounts.len() == 1 {
        return Err(ApiError::new(
            400,
            "failed_to_unlink_last_account",
            "You can't unlink your last account",
        ));
    }
    users.unlink(&user_id, &account.provider).await?;
    if let Some(vp) = Provider::parse(&account.provider).and_then(vcs_provider) {
        Credentials::new(env, vp)?.discard(&user_id).await?;
    }
    answer(200, Some(&json!({ "status": true })), None, &[])
}
