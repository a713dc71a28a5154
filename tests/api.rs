//! End-to-end tests of the HTTP API through `wrangler dev`: auth, bad inputs, sessions,
//! prompts, lists and participants.

mod common;

use common::{now_ms, service_token_at, shared, Client, REQUEST_TIMEOUT};
use serde_json::json;

fn client() -> Client {
    shared().worker.client()
}

#[tokio::test]
async fn health_is_public() {
    let c = client();
    let r = c.send(c.http.get(c.url("/health"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"status": "healthy"}));
    // The contract is published, also without credentials.
    let r = c.send(c.http.get(c.url("/openapi.json"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["openapi"], "3.1.0");
    assert!(r.body["paths"]["/sessions/{id}/pr"]["post"].is_object());
}

const SID: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn protected_routes() -> Vec<(reqwest::Method, String)> {
    use reqwest::Method as M;
    let s = format!("/sessions/{SID}");
    vec![
        (M::GET, "/sessions".into()),
        (M::POST, "/sessions".into()),
        (M::GET, s.clone()),
        (M::DELETE, s.clone()),
        (M::POST, format!("{s}/archive")),
        (M::POST, format!("{s}/unarchive")),
        (M::POST, format!("{s}/prompt")),
        (M::POST, format!("{s}/stop")),
        (M::GET, format!("{s}/events")),
        (M::GET, format!("{s}/messages")),
        (M::GET, format!("{s}/artifacts")),
        (M::GET, format!("{s}/participants")),
        (M::POST, format!("{s}/participants")),
        (M::POST, format!("{s}/ws-token")),
        (M::POST, format!("{s}/pr")),
        (M::GET, "/repos".into()),
    ]
}

#[tokio::test]
async fn every_non_public_route_requires_a_valid_service_token() {
    let c = client();
    let now = now_ms();
    let stale = service_token_at(now - 6 * 60 * 1000);
    let future = service_token_at(now + 6 * 60 * 1000);
    let forged = control_plane::auth::service_token::sign(b"not-the-secret", now);
    let sig_only = service_token_at(now).split_once('.').unwrap().1.to_string();
    for (method, path) in protected_routes() {
        let bad_headers: Vec<Option<String>> = vec![
            None,
            Some(format!("Bearer {stale}")),
            Some(format!("Bearer {future}")),
            Some(format!("Bearer {forged}")),
            Some(format!("Bearer {}.{sig_only}", now + 1)),
            Some("Bearer garbage".into()),
            Some(format!("Basic {}", service_token_at(now))),
        ];
        for header in bad_headers {
            let mut req = c
                .http
                .request(method.clone(), c.url(&path))
                .header("content-type", "application/json")
                .body("{}");
            if let Some(h) = &header {
                req = req.header("authorization", h);
            }
            let r = c.send(req).await;
            assert_eq!(r.status, 401, "{method} {path} with {header:?}: {}", r.body);
            assert_eq!(r.code(), "unauthorized");
        }
    }
}

#[tokio::test]
async fn bad_inputs_get_clear_client_errors() {
    let c = client();
    let tok = || format!("Bearer {}", service_token_at(now_ms()));
    let post_raw = |path: &str, body: Vec<u8>| {
        c.http
            .post(c.url(path))
            .header("authorization", tok())
            .header("content-type", "application/json")
            .body(body)
    };
    let r = c
        .send(post_raw("/sessions", b"{\"repoOwner\": ".to_vec()))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_json"), "{}", r.body);
    let r = c.send(post_raw("/sessions", b"".to_vec())).await;
    assert_eq!((r.status, r.code()), (400, "invalid_json"));
    let r = c
        .send(post_raw(
            "/sessions",
            br#"{"repoOwner":1,"repoName":"w","userId":"u"}"#.to_vec(),
        ))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_body"), "{}", r.body);
    let r = c.send(post_raw("/sessions", br#"[1,2]"#.to_vec())).await;
    assert_eq!(r.status, 400);
    let mut big = br#"{"repoOwner":"a","repoName":"b","userId":"u","title":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 1024 * 1024 + 10));
    big.extend(br#""}"#);
    let r = c.send(post_raw("/sessions", big)).await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    let r = c
        .send(
            c.http
                .post(c.url("/sessions"))
                .header("authorization", tok())
                .header("content-type", "application/x-www-form-urlencoded")
                .body("a=b"),
        )
        .await;
    assert_eq!(r.status, 415);

    for bad in [
        json!({"repoOwner": "acme/evil", "repoName": "web", "userId": "u"}),
        json!({"repoOwner": "acme", "repoName": "..", "userId": "u"}),
        json!({"repoOwner": "acme", "repoName": "web", "userId": "u", "branch": "a..b"}),
        json!({"repoOwner": "acme", "repoName": "web", "userId": "u", "branch": "feat~1"}),
        json!({"repoOwner": "acme", "repoName": "web", "userId": "u", "vcsProvider": "gitlab"}),
        json!({"repoName": "web", "userId": "u"}),
        // An expiry in seconds (or anything no JavaScript number holds exactly).
        json!({"repoOwner": "acme", "repoName": "web", "userId": "u", "scmToken": "t",
               "scmTokenExpiresAt": 1_796_173_323i64}),
        json!({"repoOwner": "acme", "repoName": "web", "userId": "u", "scmToken": "t",
               "scmTokenExpiresAt": 9_007_199_254_740_993i64}),
    ] {
        let r = c.post("/sessions", &bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(!r.message().is_empty());
    }

    // Unknown routes are 404 for everyone, before any credential is looked at.
    let r = c.get("/no-such-route").await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    assert_eq!(r.body, json!({"error": "Not found", "code": "not_found"}));
    for auth in [None, Some("Bearer f00d")] {
        let mut req = c.http.get(c.url(&format!("/sessions/{SID}/nothing-here")));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = c.send(req).await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{auth:?}");
    }
    let r = c
        .send(
            c.http
                .put(c.url("/sessions"))
                .bearer_auth(service_token_at(now_ms())),
        )
        .await;
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
    let r = c.get("/sessions/not-a-session-id").await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    // Limits are clamped, not refused; garbage is still an error.
    let r = c.get("/sessions?limit=0").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["sessions"].as_array().unwrap().len() <= 1);
    assert_eq!(c.get("/sessions?status=bogus").await.status, 400);
    assert_eq!(c.get("/sessions?excludeStatus=bogus").await.status, 400);
    let r = c.get("/sessions/x/events?limit=abc").await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn session_lifecycle_and_index() {
    let c = client();
    let user = format!("life-{}", now_ms());
    let id = c
        .create_session(
            &user,
            json!({"title": "Fix the login", "branch": "develop", "model": "m1"}),
        )
        .await;
    assert_eq!(id.len(), 64);

    // The snapshot Open-Inspect's session page reads.
    let r = c.get(&format!("/sessions/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = &r.body["session"];
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["vcsProvider"], "bitbucket");
    assert_eq!(s["repoOwner"], "acme");
    assert_eq!(s["repoName"], "web");
    assert_eq!(s["baseBranch"], "develop");
    assert_eq!(s["title"], "Fix the login");
    assert_eq!(s["status"], "created");
    assert_eq!(s["sandboxStatus"], "pending");
    assert!(s.get("sandbox").is_some());
    assert_eq!(
        (
            &r.body["artifacts"],
            &r.body["promptQueue"],
            &r.body["spawnError"]
        ),
        (&json!([]), &json!([]), &serde_json::Value::Null)
    );
    assert_eq!(
        r.body["timeline"],
        json!({"events": [], "hasMore": false, "cursor": null})
    );

    let gh = c
        .create_session(&user, json!({"vcsProvider": "github"}))
        .await;
    assert_eq!(
        c.get(&format!("/sessions/{gh}")).await.body["session"]["vcsProvider"],
        "github"
    );

    // A second create for the same id is impossible: ids come from the server.
    let list = c.get("/sessions?limit=100").await;
    assert_eq!(list.status, 200);
    let ids: Vec<&str> = list.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&id.as_str()) && ids.contains(&gh.as_str()));
    assert!(list.body["total"].as_u64().unwrap() >= 2);

    // Archive: only participants may; the index follows.
    let r = c
        .post(
            &format!("/sessions/{id}/archive"),
            &json!({"userId": "stranger"}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .post(&format!("/sessions/{id}/archive"), &json!({"userId": user}))
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("archived"))
    );
    let archived = c.get("/sessions?status=archived&limit=100").await;
    assert!(archived.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == "archived"));
    assert!(archived.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == id.as_str()));
    let excluded = c.get("/sessions?excludeStatus=archived&limit=100").await;
    assert!(!excluded.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["status"] == "archived"));
    // A prompt reactivates an archived session.
    let r = c
        .post(
            &format!("/sessions/{id}/prompt"),
            &json!({"content": "hi", "authorId": user}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        c.get(&format!("/sessions/{id}")).await.body["session"]["status"],
        "active"
    );
    let r = c
        .post(&format!("/sessions/{id}/archive"), &json!({"userId": user}))
        .await;
    assert_eq!(r.status, 200);
    let r = c
        .post(
            &format!("/sessions/{id}/unarchive"),
            &json!({"userId": user}),
        )
        .await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("active")));

    // Paging of the index.
    let p1 = c.get("/sessions?limit=1&offset=0").await;
    assert_eq!(p1.body["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(p1.body["hasMore"], true);

    // Delete: gone from the object and the index.
    let r = c.delete(&format!("/sessions/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(c.get(&format!("/sessions/{id}")).await.status, 404);
    assert_eq!(c.delete(&format!("/sessions/{id}")).await.status, 404);
    let list = c.get("/sessions?limit=100").await;
    assert!(!list.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == id.as_str()));
    let r = c.get(&format!("/sessions/{SID}")).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn prompts_messages_events_and_paging_newest_first() {
    let c = client();
    let id = c.create_session("pager", json!({})).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = c
            .post(
                &format!("/sessions/{id}/prompt"),
                &json!({"content": format!("prompt {i}"), "authorId": "pager", "model": "m2"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["status"], "queued");
        assert_eq!(r.body["position"], i + 1);
        ids.push(r.body["messageId"].as_str().unwrap().to_string());
    }
    let r = c
        .post(
            &format!("/sessions/{id}/prompt"),
            &json!({"content": "  ", "authorId": "pager"}),
        )
        .await;
    assert_eq!(r.status, 400);

    let page1 = c.get(&format!("/sessions/{id}/messages?limit=2")).await;
    let msgs = page1.body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["id"], ids[4].as_str());
    assert_eq!(msgs[1]["id"], ids[3].as_str());
    assert_eq!(msgs[0]["status"], "pending");
    assert_eq!(msgs[0]["model"], "m2");
    assert_eq!(page1.body["hasMore"], true);
    let cursor = page1.body["cursor"].as_str().unwrap().to_string();
    let page2 = c
        .get(&format!("/sessions/{id}/messages?limit=2&cursor={cursor}"))
        .await;
    let msgs2 = page2.body["messages"].as_array().unwrap();
    assert_eq!(msgs2[0]["id"], ids[2].as_str());
    assert_eq!(msgs2[1]["id"], ids[1].as_str());
    let cursor = page2.body["cursor"].as_str().unwrap().to_string();
    let page3 = c
        .get(&format!("/sessions/{id}/messages?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(page3.body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(page3.body["hasMore"], false);

    // A prompt shows in the timeline once it starts (no sandbox here): the queue has them.
    let events = c
        .get(&format!("/sessions/{id}/events?type=user_message&limit=10"))
        .await;
    assert_eq!(events.body["events"], json!([]));
    let snapshot = c.get(&format!("/sessions/{id}")).await;
    let queue = snapshot.body["promptQueue"].as_array().unwrap();
    assert_eq!(queue.len(), 5);
    assert_eq!(queue[0]["content"], "prompt 0");
    assert_eq!(queue[4]["messageId"], ids[4].as_str());
    let pending = c
        .get(&format!("/sessions/{id}/messages?status=pending&limit=500"))
        .await;
    assert_eq!(pending.body["messages"].as_array().unwrap().len(), 5);
    let r = c.get(&format!("/sessions/{id}/messages?status=done")).await;
    assert_eq!(r.status, 400);
    let r = c
        .get(&format!("/sessions/{id}/events?type=no_such_event"))
        .await;
    assert_eq!(r.status, 400);
    // A command travels to the session in a header when small and ASCII, else in the
    // body: a prompt near the header's 4 KiB, a non-ASCII one and one over 4 KiB arrive
    // exactly as sent.
    for content in [&"y".repeat(3900), "héllo ✓ — ünïcode", &"x".repeat(5000)] {
        let r = c
            .post(
                &format!("/sessions/{id}/prompt"),
                &json!({"content": content, "authorId": "pager"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let m = r.body["messageId"].as_str().unwrap();
        let got = c.get(&format!("/sessions/{id}/messages?limit=1")).await;
        assert_eq!(got.body["messages"][0]["id"], m);
        assert_eq!(got.body["messages"][0]["content"], content);
    }
    let none = c
        .get(&format!("/sessions/{id}/events?type=tool_call"))
        .await;
    assert_eq!(none.body["events"], json!([]));
    let arts = c.get(&format!("/sessions/{id}/artifacts")).await;
    assert_eq!((arts.status, &arts.body["artifacts"]), (200, &json!([])));

    let s = c.get(&format!("/sessions/{id}")).await;
    assert_eq!(s.body["session"]["status"], "active");
    let stop = c.post(&format!("/sessions/{id}/stop"), &json!({})).await;
    assert_eq!(
        (stop.status, &stop.body),
        (200, &json!({"status": "stopping"}))
    );

    // A caller that does not say who it is is "anonymous".
    let r = c
        .post(
            "/sessions",
            &json!({"repoOwner": "acme", "repoName": "web"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let anon = r.body["sessionId"].as_str().unwrap().to_string();
    let r = c
        .post(
            &format!("/sessions/{anon}/prompt"),
            &json!({"content": "hi"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let people = c.get(&format!("/sessions/{anon}/participants")).await;
    assert_eq!(people.body["participants"][0]["userId"], "anonymous");
}

#[tokio::test]
async fn participants_are_listed_without_their_tokens() {
    let c = client();
    let id = c
        .create_session(
            "owner-1",
            json!({"scmLogin": "owner", "scmName": "Owner One", "scmToken": "OWNER-ACCESS-TOKEN-1",
                   "scmRefreshToken": "OWNER-REFRESH-TOKEN-1", "scmTokenExpiresAt": 1900000000000i64}),
        )
        .await;
    let r = c
        .post(
            &format!("/sessions/{id}/participants"),
            &json!({"userId": "member-2", "scmLogin": "m2", "scmToken": "MEMBER-ACCESS-TOKEN-2"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["id"].is_string());
    assert_eq!(r.body["status"], "added");
    let r = c
        .post(
            &format!("/sessions/{id}/participants"),
            &json!({"userId": ""}),
        )
        .await;
    assert_eq!(r.status, 400);

    let list = c.get(&format!("/sessions/{id}/participants")).await;
    let ps = list.body["participants"].as_array().unwrap();
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0]["userId"], "member-2");
    assert_eq!(ps[1]["userId"], "owner-1");
    assert_eq!(ps[1]["role"], "owner");
    assert_eq!(ps[1]["scmName"], "Owner One");
    assert_eq!(ps[1]["hasScmToken"], true);

    let mut everything = String::new();
    for path in ["", "/participants", "/events", "/messages", "/artifacts"] {
        everything.push_str(
            &c.get(&format!("/sessions/{id}{path}"))
                .await
                .body
                .to_string(),
        );
    }
    everything.push_str(&c.get("/sessions?limit=100").await.body.to_string());
    for secret in [
        "OWNER-ACCESS-TOKEN-1",
        "OWNER-REFRESH-TOKEN-1",
        "MEMBER-ACCESS-TOKEN-2",
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    let log = std::fs::read_to_string(&shared().worker.log).expect("worker log");
    assert!(log.contains("Ready on"), "not the worker's log");
    for secret in [
        "OWNER-ACCESS-TOKEN-1",
        "OWNER-REFRESH-TOKEN-1",
        "MEMBER-ACCESS-TOKEN-2",
    ] {
        assert!(!log.contains(secret), "{secret} in the worker log");
    }
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_failed_request_is_one_json_log_line() {
    let sh = common::shared();
    let c = sh.worker.client();
    let given = format!("trace-{}", now_ms());
    let resp = c
        .http
        .get(c.url("/openapi.json"))
        .header("x-request-id", &given)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], given.as_str());
    let resp = c.http.get(c.url("/no-such-route")).send().await.unwrap();
    let made = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(
        made.len() == 32 && made.bytes().all(|b| b.is_ascii_hexdigit()),
        "{made}"
    );
    // A session's answer (from its Durable Object) carries it too.
    let id = c.create_session("rid-user", serde_json::json!({})).await;
    let resp = c
        .http
        .get(c.url(&format!("/sessions/{id}")))
        .bearer_auth(common::service_token_at(now_ms()))
        .header("x-request-id", &given)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], given.as_str());
    // The failed request's log line: one JSON object with what Logpush filters on.
    let find = |id: &str| {
        let log = std::fs::read_to_string(&sh.worker.log).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(id))
            .find_map(|l| serde_json::from_str::<serde_json::Value>(&l[l.find('{')?..]).ok())
    };
    let mut line = None;
    for _ in 0..50 {
        line = find(&made);
        if line.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let line = line.unwrap_or_else(|| {
        let log = std::fs::read_to_string(&sh.worker.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        panic!("no JSON log line for the request; log tail: {tail:#?}")
    });
    assert_eq!(line["level"], "info");
    assert_eq!(line["msg"], "request");
    assert_eq!(line["route"], "unmatched");
    assert_eq!(line["status"], 404);
    assert!(line["durationMs"].is_i64(), "{line}");
    // A quick success is left to the platform's invocation log (LOG_REQUESTS=all logs it).
    assert!(find(&given).is_none(), "a quick 200 was logged");
}

/// Sends a chunked body (no Content-Length) of `size` bytes over a raw connection and
/// answers the status code. The answer is read while the body is still being sent: a server
/// that answers early and closes may reset the connection, and a reset discards whatever
/// the client had not read yet.
async fn chunked_post(port: u16, path: &str, auth: &str, size: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (mut rx, mut tx) = s.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let send = tokio::spawn(async move {
        tx.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < size {
            tx.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            tx.write_all(&chunk).await?;
            tx.write_all(b"\r\n").await?;
            sent += chunk.len();
        }
        tx.write_all(b"0\r\n\r\n").await
    });
    // The status line is all that is needed.
    let read = async {
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            match rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        answer
    };
    let answer = tokio::time::timeout(REQUEST_TIMEOUT, read)
        .await
        .expect("an answer to the chunked request");
    // The whole body is sent even so, as a client that ignores early answers would.
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, send).await;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn bodies_are_limited_while_they_stream_and_sandbox_callers_are_checked_first() {
    let sh = shared();
    let c = sh.worker.client();
    let big = 1024 * 1024 + 200 * 1024;
    let service = format!("Bearer {}", service_token_at(now_ms()));
    // No Content-Length: the limit holds while reading.
    assert_eq!(
        chunked_post(sh.worker.port, "/sessions", &service, big).await,
        413
    );
    // A caller claiming to be the sandbox is refused before its body is read.
    let id = c.create_session("pr-guard", json!({})).await;
    let path = format!("/sessions/{id}/pr");
    let forged = format!("Bearer {}", "f".repeat(64));
    assert_eq!(chunked_post(sh.worker.port, &path, &forged, big).await, 401);
    // Both bodies were dropped whole: the next requests are served as usual (wrangler dev's
    // proxy breaks the request after one whose body was left unread).
    for _ in 0..3 {
        c.create_session("pr-guard", json!({})).await;
    }
}

#[tokio::test]
async fn webhooks_are_disabled_without_a_secret() {
    let c = client();
    for forge in ["bitbucket", "github"] {
        let r = c
            .send(
                c.http
                    .post(c.url(&format!("/webhooks/{forge}")))
                    .header("content-type", "application/json")
                    .body("{}"),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (404, "not_found"),
            "{forge}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn github_listings_without_the_app_or_a_user_say_what_is_missing() {
    let r = client()
        .get_with("/repos", &[("x-vcs-provider", "github")])
        .await;
    assert_eq!(
        (r.status, r.code()),
        (500, "server_misconfigured"),
        "{}",
        r.body
    );
    assert!(r.message().contains("GITHUB_APP_ID"), "{}", r.body);
}

/// Open-Inspect's current web app and bots sign each call with their own secret (`sig1`);
/// every part of the request is covered, each nonce is accepted once, and a bot may assert
/// only an actor of its own namespace.
#[tokio::test]
async fn services_sign_their_calls_with_sig1() {
    use common::Sig1;
    let c = client();
    let get = |path: &str| c.http.get(c.url(path));
    // A bot, no body, a query.
    let r = c
        .send(Sig1::now("github-bot").sign(get("/sessions?limit=2&offset=0"), None))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A bot acting for a Slack user creates a session: the body is signed and then read,
    // and the session's owner is the actor (a body may not say who acts).
    let mut slack = Sig1::now("slack-bot");
    slack.actor = "slack:U0123456";
    let body = json!({"repoOwner": "acme", "repoName": "web"});
    let r = c
        .send(slack.sign(c.http.post(c.url("/sessions")), Some(&body)))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["sessionId"].as_str().unwrap().to_string();
    let r = c.get(&format!("/sessions/{id}/participants")).await;
    assert_eq!(
        r.body["participants"][0]["userId"], "slack:U0123456",
        "{}",
        r.body
    );
    let mut claims = Sig1::now("slack-bot");
    claims.actor = "slack:U0123456";
    let body = json!({"repoOwner": "acme", "repoName": "web", "userId": "someone-else"});
    let r = c
        .send(claims.sign(c.http.post(c.url("/sessions")), Some(&body)))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.message(),
        "Field 'userId' is not accepted from verified callers"
    );
    // A bot acting for nobody cannot start a session.
    let body = json!({"repoOwner": "acme", "repoName": "web"});
    let r = c
        .send(Sig1::now("github-bot").sign(c.http.post(c.url("/sessions")), Some(&body)))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = c
        .send(Sig1::now("github-bot").sign(get(&format!("/sessions/{id}")), None))
        .await;
    assert_eq!(
        (r.status, r.body["session"]["repoName"].as_str()),
        (200, Some("web"))
    );

    // The same signed request again: its nonce was used.
    let once = Sig1::now("github-bot");
    let r = c.send(once.sign(get("/sessions"), None)).await;
    assert_eq!(r.status, 200);
    let r = c.send(once.sign(get("/sessions"), None)).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"), "a replay");

    // Each of these is refused on a plain GET /sessions.
    let with = |service, change: &dyn Fn(&mut Sig1)| {
        let mut sig = Sig1::now(service);
        change(&mut sig);
        sig
    };
    let forged = vec![
        (
            "a wrong secret",
            with("web", &|s| s.secret = "not-the-web-secret"),
        ),
        (
            "the web app's secret in the Slack bot's name",
            with("slack-bot", &|s| s.secret = common::SERVICE_SECRETS[0].2),
        ),
        ("an unknown service", Sig1::now("evil-bot")),
        (
            "a stale signature",
            with("web", &|s| s.at_ms -= 6 * 60 * 1000),
        ),
        (
            "the web app asserts no actor",
            with("web", &|s| s.actor = "slack:U1"),
        ),
        (
            "another namespace",
            with("slack-bot", &|s| s.actor = "github:583231"),
        ),
    ];
    let mut sent: Vec<(&str, reqwest::RequestBuilder)> = forged
        .into_iter()
        .map(|(what, sig)| (what, sig.sign(get("/sessions"), None)))
        .collect();
    // Signed for one request, sent with another.
    let query = Sig1::now("github-bot").sign(get("/sessions?limit=2"), None);
    sent.push(("another query", headers_of(query, get("/sessions?limit=3"))));
    let mut slack = Sig1::now("slack-bot");
    slack.actor = "slack:U0123456";
    let signed = json!({"repoOwner": "acme", "repoName": "web", "userId": "slack:U0123456"});
    let other = json!({"repoOwner": "acme", "repoName": "secret", "userId": "slack:U0123456"});
    let body = slack.sign(c.http.post(c.url("/sessions")), Some(&signed));
    let post_other = c.http.post(c.url("/sessions")).body(other.to_string());
    sent.push(("another body", headers_of(body, post_other)));
    for (what, req) in sent {
        let r = c.send(req).await;
        assert_eq!(
            (r.status, r.code()),
            (401, "unauthorized"),
            "{what}: {}",
            r.body
        );
    }

    // A service whose secret is not configured is a misconfiguration, not a stranger.
    let r = c
        .send(Sig1::now("linear-bot").sign(get("/sessions"), None))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (500, "server_misconfigured"),
        "{}",
        r.body
    );
    // The older web app's shared bearer still works while INTERNAL_CALLBACK_SECRET is set.
    assert_eq!(c.get("/sessions").await.status, 200);
}

/// `to` with the headers of `from` (a signature made for another request).
fn headers_of(
    from: reqwest::RequestBuilder,
    to: reqwest::RequestBuilder,
) -> reqwest::RequestBuilder {
    let from = from.build().expect("a request");
    from.headers().iter().fold(to, |to, (k, v)| to.header(k, v))
}

/// Open-Inspect's pages call these on load: each answers what they render as "none
/// configured", and a write is an honest 501 `not_offered` the page shows.
#[tokio::test]
async fn features_not_offered_answer_none_configured_and_refuse_writes() {
    let c = shared().worker.client();
    let id = c.create_session("pages", json!({})).await;
    for (path, body) in [
        ("/skill-profiles", json!({"profiles": []})),
        ("/image-builds/enabled", json!({"units": []})),
        ("/image-builds/enabled-repos", json!({"repos": []})),
        ("/image-builds/status", json!({"images": []})),
        (
            "/integration-settings/sandbox",
            json!({"integrationId": "sandbox", "settings": null}),
        ),
        (
            "/model-provider-accounts/legacy-credentials",
            json!({"legacyKeys": []}),
        ),
        ("/model-provider-accounts", json!({"accounts": []})),
        ("/mcp-servers", json!([])),
        ("/commit-signing", json!({"enabled": false})),
        (
            &format!("/sessions/{id}/sandbox-access"),
            json!({"codeServer": null, "vnc": null, "ttyd": null}),
        ),
        (
            &format!("/sessions/{id}/diff"),
            json!({"version": 1, "current": null, "lastError": null,
                   "unavailableReason": "Changes unavailable for this session"}),
        ),
        (&format!("/sessions/{id}/children"), json!({"children": []})),
    ] {
        let r = c.get(path).await;
        assert_eq!((r.status, &r.body), (200, &body), "{path}");
    }
    let skills = c.get(&format!("/sessions/{id}/skills")).await;
    assert_eq!(
        (skills.status, &skills.body["selection"]),
        (200, &json!({"mode": "none"}))
    );
    let preview = c
        .post(
            "/skills/resolve-preview",
            &json!({"selection": {"mode": "all"}}),
        )
        .await;
    assert_eq!(
        preview.body,
        json!({"skills": [], "totalBytes": 0, "ignoredProfileSkillIds": []})
    );
    let summary = c.get("/analytics/summary?days=7").await;
    assert_eq!(summary.body["statusBreakdown"]["active"], 0);
    for (method, path) in [
        (reqwest::Method::POST, "/mcp-servers"),
        (reqwest::Method::PUT, "/scm-settings"),
        (reqwest::Method::POST, "/environments"),
        (reqwest::Method::PUT, "/integration-settings/sandbox"),
    ] {
        let r = c
            .send(
                c.authed(method.clone(), path)
                    .json(&json!({"settings": {}})),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (501, "not_offered"),
            "{method} {path}"
        );
        assert!(r.message().contains("not offered"), "{}", r.body);
    }
    // Without the service's signature, nothing is answered.
    let anonymous = c.send(c.http.get(c.url("/skill-profiles"))).await;
    assert_eq!(anonymous.status, 401);
}

/// The list filters Open-Inspect's web and bots send: `createdBy` (`me` or a user id) and
/// `excludeAutomationLineage`, refused when malformed as Open-Inspect refuses them.
#[tokio::test]
async fn the_session_list_filters_by_creator() {
    let c = shared().worker.client();
    let creator = "0123456789abcdef0123456789abcd01";
    let id = c.create_session(creator, json!({})).await;
    let other = c.create_session("someone-else", json!({})).await;
    let r = c
        .get(&format!(
            "/sessions?createdBy={creator}&excludeAutomationLineage=true&limit=100"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<&str> = r.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [id.as_str()],
        "only that creator's: {ids:?} (not {other})"
    );
    assert_eq!(r.body["hasMore"], false);
    for bad in [
        "createdBy=alice",
        "excludeAutomationLineage=yes",
        // The shared-secret bearer is nobody: it has no "me".
        "createdBy=me",
    ] {
        let r = c.get(&format!("/sessions?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
}

/// Repository metadata as the bots read it (`GET`/`PUT /repos/{owner}/{name}/metadata`).
#[tokio::test]
async fn repository_metadata_is_kept_for_the_bots() {
    let c = shared().worker.client();
    let r = c.get("/repos/Acme/Meta-Repo/metadata").await;
    assert_eq!(r.body, json!({"repo": "acme/meta-repo", "metadata": null}));
    let put = |body: serde_json::Value| {
        let c = c.clone();
        async move {
            c.send(
                c.authed(reqwest::Method::PUT, "/repos/acme/meta-repo/metadata")
                    .json(&body),
            )
            .await
        }
    };
    let r = put(json!({"aliases": ["web"], "keywords": ["login"], "ignored": 1})).await;
    assert_eq!(
        r.body,
        json!({"status": "updated", "repo": "acme/meta-repo",
               "metadata": {"aliases": ["web"], "keywords": ["login"]}})
    );
    let r = c.get("/repos/acme/meta-repo/metadata").await;
    assert_eq!(
        r.body["metadata"],
        json!({"aliases": ["web"], "keywords": ["login"]})
    );
    let r = put(json!({"aliases": "web"})).await;
    assert_eq!(
        (r.status, r.message()),
        (400, "Invalid repository metadata")
    );
}
