//! Authentication over real HTTP on the real binary: the policies Kayenta's routes and Flagger's webhook can
//! have of their own (open, a query-parameter token, a header token) while the native API and the pages stay
//! protected; the login's signed session cookie (never the token, `Secure` behind TLS, shared by replicas
//! that share the secret); and the login's `next`, which never leaves the site.

mod common;

use common::clients::send;
use common::server::Server;
use reqwest::header;
use serde_json::{Value, json};

const API_TOKEN: &str = "api-token-7c1e";
const OWN_TOKEN: &str = "route-token-93bd";

/// A server with `settings` as its configuration file (the API token in `T_API`, a route token in
/// `T_ROUTE`, a session secret in `T_SESSION`).
fn start(settings: &str) -> (Server, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("coalmine.toml");
    std::fs::write(&file, settings).unwrap();
    let server = Server::start_with_env(
        data.path(),
        &["--config", file.to_str().unwrap()],
        &[
            ("T_API", API_TOKEN),
            ("T_ROUTE", OWN_TOKEN),
            ("T_SESSION", "a secret every replica shares"),
        ],
    );
    (server, data)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Flagger's webhook payload without metadata: a 400 once past authentication.
fn flagger_payload() -> Value {
    json!({"name": "checkout", "namespace": "prod", "phase": "Progressing", "metadata": {}})
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_else(|| panic!("{body}"))
}

#[tokio::test]
async fn kayenta_open_and_flagger_query_token_leave_the_api_protected() {
    let (server, _data) = start(
        "[auth]\ntoken_envs = [\"T_API\"]\n\n[auth.kayenta]\npolicy = \"open\"\n\n\
         [auth.flagger]\npolicy = \"query\"\ntoken_env = \"T_ROUTE\"\n",
    );
    let url = |path: &str| format!("{}{path}", server.url);

    // Kayenta's routes are open, as Argo Rollouts' kayenta provider and Orca need.
    let (status, body) = send(client().get(url("/canaryConfig"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(client().get(url("/credentials"))).await;
    assert_eq!(status, 200, "{body}");

    // The native API and the pages are not.
    let (status, body) = send(client().get(url("/v1/configs"))).await;
    assert_eq!(status, 401, "{body}");
    let page = client().get(url("/")).send().await.unwrap();
    assert_eq!(page.status(), 303);

    // Flagger's webhook takes its own token in `?token=`, or an API bearer token.
    let webhook = |query: &str| {
        client()
            .post(url(&format!("/v1/webhooks/flagger{query}")))
            .json(&flagger_payload())
    };
    let (status, body) = send(webhook("")).await;
    assert_eq!(status, 401, "{body}");
    assert!(message(&body).contains("?token=<token>"), "{body}");
    let (status, body) = send(webhook("?token=wrong")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        message(&body),
        "the token in query parameter `token` is not valid"
    );
    let (status, body) = send(webhook(&format!("?token={API_TOKEN}"))).await;
    assert_eq!(status, 401, "an API token is no webhook token: {body}");
    let (status, body) = send(webhook(&format!("?token={OWN_TOKEN}"))).await;
    assert_eq!(
        status, 400,
        "past authentication, the metadata is wrong: {body}"
    );
    assert!(message(&body).contains("config"), "{body}");
    let (status, body) = send(webhook("").bearer_auth(API_TOKEN)).await;
    assert_eq!(status, 400, "{body}");

    // The webhook's token opens nothing else.
    for path in ["/v1/configs", "/v1/analyses"] {
        let (status, body) = send(client().get(url(&format!("{path}?token={OWN_TOKEN}")))).await;
        assert_eq!(status, 401, "{path}: {body}");
    }
    let (status, body) = send(
        client()
            .get(url("/v1/configs"))
            .header("x-coalmine-token", OWN_TOKEN),
    )
    .await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn kayenta_header_token_and_flagger_bearer_by_default() {
    let (server, _data) = start(
        "[auth]\ntoken_envs = [\"T_API\"]\n\n[auth.kayenta]\npolicy = \"header\"\n\
         header = \"X-Kayenta-Token\"\ntoken_env = \"T_ROUTE\"\n",
    );
    let url = |path: &str| format!("{}{path}", server.url);
    let kayenta = || client().get(url("/canaryConfig"));

    let (status, body) = send(kayenta()).await;
    assert_eq!(status, 401, "{body}");
    assert!(message(&body).contains("x-kayenta-token"), "{body}");
    let (status, body) = send(kayenta().header("X-Kayenta-Token", "wrong")).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = send(kayenta().header("X-Kayenta-Token", API_TOKEN)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = send(kayenta().header("X-Kayenta-Token", OWN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(kayenta().bearer_auth(API_TOKEN)).await;
    assert_eq!(status, 200, "an API token works everywhere: {body}");
    // A change through Kayenta's API, with the route's token.
    let (status, body) = send(
        client()
            .post(url("/canaryConfig"))
            .header("X-Kayenta-Token", OWN_TOKEN)
            .json(&common::clients::example_json(
                "spinnaker/canary-config.json",
            )),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The Kayenta token opens nothing native.
    let (status, body) = send(
        client()
            .get(url("/v1/configs"))
            .header("X-Kayenta-Token", OWN_TOKEN),
    )
    .await;
    assert_eq!(status, 401, "{body}");

    // Flagger's webhook follows the API's rule: bearer tokens.
    let webhook = || {
        client()
            .post(url("/v1/webhooks/flagger"))
            .json(&flagger_payload())
    };
    let (status, body) = send(webhook()).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = send(webhook().header("X-Kayenta-Token", OWN_TOKEN)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = send(webhook().bearer_auth(API_TOKEN)).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_route_token_is_needed_even_when_the_api_is_open() {
    let (server, _data) = start(
        "[auth.kayenta]\npolicy = \"query\"\nquery_param = \"key\"\ntoken_env = \"T_ROUTE\"\n",
    );
    let url = |path: &str| format!("{}{path}", server.url);
    let (status, body) = send(client().get(url("/v1/configs"))).await;
    assert_eq!(status, 200, "no API tokens: the API is open: {body}");
    let (status, body) = send(client().get(url("/canaryConfig"))).await;
    assert_eq!(status, 401, "{body}");
    assert!(message(&body).contains("?key=<token>"), "{body}");
    // The token is taken out of the query before the handler reads it (which knows no `key`).
    let (status, body) = send(client().get(url(&format!(
        "/canaryConfig?key={OWN_TOKEN}&application=checkout"
    ))))
    .await;
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_policy_without_its_token_is_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("coalmine.toml");
    for (settings, expected) in [
        (
            "[auth.flagger]\npolicy = \"query\"\n",
            "[auth.flagger]: policy = \"query\" needs token_env",
        ),
        (
            "[auth.kayenta]\npolicy = \"open\"\ntoken_env = \"T_ROUTE\"\n",
            "[auth.kayenta]: token_env does not apply to this policy",
        ),
        (
            "[auth.kayenta]\npolicy = \"sometimes\"\n",
            "unknown variant `sometimes`",
        ),
        (
            "[auth.kayenta]\npolicy = \"header\"\nheader = \"bad header\"\ntoken_env = \"T_ROUTE\"\n",
            "header `bad header` is not a header name",
        ),
    ] {
        std::fs::write(&file, settings).unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_coalmine"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&file)
            .arg("--data-dir")
            .arg(data.path())
            .env("T_ROUTE", OWN_TOKEN)
            .env(
                "COALMINE_CACHE_DIR",
                std::env::temp_dir().join("coalmine-test-cache"),
            )
            .env_remove("COALMINE_CONFIG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{settings}");
        assert!(stderr.contains(expected), "{settings}: {stderr}");
    }
}

/// Logs in to `server` with `token`, with extra `headers`; the response.
async fn login(
    server: &Server,
    token: &str,
    next: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client()
        .post(format!("{}/login", server.url))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("token", token)
                .append_pair("next", next)
                .finish(),
        );
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The `Set-Cookie` header of a response.
fn set_cookie(response: &reqwest::Response) -> String {
    response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_login_cookie_is_a_signed_session_not_the_token() {
    let settings = "[auth]\ntoken_envs = [\"T_API\"]\nsession_secret_env = \"T_SESSION\"\n";
    let (server, _data) = start(settings);
    let url = |path: &str| format!("{}{path}", server.url);

    let response = login(&server, API_TOKEN, "/", &[]).await;
    assert_eq!(response.status(), 303);
    let cookie = set_cookie(&response);
    assert!(!cookie.contains(API_TOKEN), "{cookie}");
    assert!(cookie.starts_with("coalmine_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let session = cookie.split(';').next().unwrap().to_string();

    // The session reads pages and the API, and changes nothing.
    let page = client()
        .get(url("/"))
        .header(header::COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let (status, body) = send(
        client()
            .get(url("/v1/configs"))
            .header(header::COOKIE, &session),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(
        client()
            .post(url("/v1/configs"))
            .header(header::COOKIE, &session)
            .json(&common::clients::example_json(
                "spinnaker/canary-config.json",
            )),
    )
    .await;
    assert_eq!(status, 401, "{body}");

    // The token itself, or a forged session, is no session.
    for forged in [
        format!("coalmine_session={API_TOKEN}"),
        format!("coalmine_token={API_TOKEN}"),
        "coalmine_session=99999999999.00".to_string(),
        format!("coalmine_session=99999999999.{}", "ab".repeat(32)),
    ] {
        let (status, body) = send(
            client()
                .get(url("/v1/configs"))
                .header(header::COOKIE, &forged),
        )
        .await;
        assert_eq!(status, 401, "{forged}: {body}");
    }

    // Behind TLS the cookie is Secure, and logging out forgets it.
    let response = login(&server, API_TOKEN, "/", &[("X-Forwarded-Proto", "https")]).await;
    assert!(
        set_cookie(&response).contains("Secure"),
        "{}",
        set_cookie(&response)
    );
    let logout = client()
        .post(url("/logout"))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    let removal = set_cookie(&logout);
    assert!(
        removal.starts_with("coalmine_session=;") && removal.contains("Secure"),
        "{removal}"
    );

    // A replica with the same secret accepts the session; one without it does not.
    let (replica, _replica_data) = start(settings);
    let (status, body) = send(
        client()
            .get(format!("{}/v1/configs", replica.url))
            .header(header::COOKIE, &session),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (stranger, _stranger_data) =
        start("[auth]\ntoken_envs = [\"T_API\"]\nsecure_cookie = true\n");
    let (status, body) = send(
        client()
            .get(format!("{}/v1/configs", stranger.url))
            .header(header::COOKIE, &session),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    // `secure_cookie = true` makes it Secure over plain HTTP too.
    let response = login(&stranger, API_TOKEN, "/", &[]).await;
    assert!(
        set_cookie(&response).contains("Secure"),
        "{}",
        set_cookie(&response)
    );
}

#[tokio::test]
async fn after_login_the_browser_never_leaves_the_site() {
    let (server, _data) = start("[auth]\ntoken_envs = [\"T_API\"]\n");
    let location = |response: &reqwest::Response| {
        response.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_string()
    };
    for (next, expected) in [
        ("/analyses/abc?interval=2", "/analyses/abc?interval=2"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/.//evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ] {
        let response = login(&server, API_TOKEN, next, &[]).await;
        assert_eq!(response.status(), 303, "{next:?}");
        assert_eq!(location(&response), expected, "{next:?}");
    }
    // CR and LF are no 500: the answer is a redirect that stays here, with no injected header.
    let response = login(&server, API_TOKEN, "/a\r\nSet-Cookie: evil=1", &[]).await;
    assert_eq!(response.status(), 303);
    let target = location(&response);
    assert!(
        target.starts_with("/a") && !target.contains(['\r', '\n']),
        "{target:?}"
    );
    assert_eq!(
        response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .count(),
        1
    );

    // The form carries `next` through, cleaned the same way.
    let form = client()
        .get(format!(
            "{}/login?next=%2F%0D%0A%2Fevil.example",
            server.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let html = form.text().await.unwrap();
    assert!(html.contains("name=\"next\" value=\"/\""), "{html}");
}
