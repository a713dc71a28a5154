//! Listing every repository a Bitbucket user can reach: their workspaces, then each
//! workspace's repositories page by page, several workspaces at once but bounded.

use futures::{StreamExt, TryStreamExt};

use crate::vcs::bitbucket::responses::{self, Page};
use crate::vcs::bitbucket::{requests, BitbucketError, Config};
use crate::vcs::http::{HttpRequest, HttpResponse};
use crate::vcs::{fetch, retry, Repo};

/// Workspaces listed at the same time, at most.
pub const WORKSPACES_IN_FLIGHT: usize = 4;
/// A safety bound on pages followed per listing.
const MAX_PAGES: usize = 200;

async fn get(req: &HttpRequest) -> Result<HttpResponse, BitbucketError> {
    fetch::send_with_retry(req, retry::RATE_LIMIT).await
}

/// Follows `next` links from `first`, parsing each page with `parse`.
async fn all_pages<T>(
    cfg: &Config,
    token: &str,
    first: HttpRequest,
    parse: fn(&HttpResponse) -> Result<Page<T>, BitbucketError>,
) -> Result<Vec<T>, BitbucketError> {
    let mut out = Vec::new();
    let mut req = first;
    for _ in 0..MAX_PAGES {
        let page = parse(&get(&req).await?)?;
        out.extend(page.values);
        match page.next {
            Some(next) => req = requests::next_page(cfg, token, &next)?,
            None => return Ok(out),
        }
    }
    Err(BitbucketError::Parse("too many pages".into()))
}

/// Every repository of every workspace the user belongs to, sorted by full name.
pub async fn bitbucket_repos(cfg: &Config, token: &str) -> Result<Vec<Repo>, BitbucketError> {
    let workspaces = all_pages(
        cfg,
        token,
        requests::user_workspaces(cfg, token)?,
        responses::workspaces,
    )
    .await?;
    let per_workspace: Vec<Vec<Repo>> = futures::stream::iter(workspaces)
        .map(|ws| async move {
            all_pages(
                cfg,
                token,
                requests::workspace_repos(cfg, token, &ws)?,
                responses::repos,
            )
            .await
        })
        .buffer_unordered(WORKSPACES_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut repos: Vec<Repo> = per_workspace.into_iter().flatten().collect();
    repos.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    repos.dedup_by(|a, b| a.id == b.id);
    Ok(repos)
}
