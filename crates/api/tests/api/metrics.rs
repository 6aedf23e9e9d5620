//! `/metrics`: a bounded label set whatever clients send, and the optional
//! bearer token (`HALL_METRICS_TOKEN`).

use crate::support::TestServer;

/// The series of the request metrics in a scrape.
fn request_series(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            l.starts_with("hall_http_requests_total{")
                || l.starts_with("hall_http_request_duration_seconds_count{")
        })
        .map(|l| l.rsplit_once(' ').map_or(l, |(series, _)| series))
        .collect()
}

async fn scrape(client: &reqwest::Client, server: &TestServer, token: Option<&str>) -> String {
    let mut req = client.get(server.url("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("scrape");
    assert_eq!(resp.status(), 200);
    resp.text().await.expect("scrape body")
}

const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

#[tokio::test]
async fn random_methods_and_paths_do_not_grow_the_series() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    // Every label a request to an unmatched path can have, once: the known
    // methods and one unknown one.
    for m in KNOWN.iter().chain(&["BREW"]) {
        let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
        client
            .request(method, server.url("/warm/up"))
            .send()
            .await
            .expect("warm-up");
    }
    scrape(&client, &server, None).await;
    let before = scrape(&client, &server, None).await;
    let before: Vec<String> = request_series(&before)
        .into_iter()
        .map(str::to_string)
        .collect();

    // A xorshift generator: random enough, and reproducible from its seed.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut requests = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let r = next();
        let method = if r % 4 == 0 {
            KNOWN[(r >> 8) as usize % KNOWN.len()].to_string()
        } else {
            let len = 1 + (r >> 8) as usize % 12;
            (0..len)
                .map(|i| (b'A' + ((r >> (16 + 3 * i)) % 26) as u8) as char)
                .collect()
        };
        let path = format!("/{:x}/{:x}", next(), next());
        requests.push((method, path));
    }
    for chunk in requests.chunks(200) {
        let mut set = tokio::task::JoinSet::new();
        for (method, path) in chunk {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let req = client.request(method, server.url(path));
            set.spawn(async move { req.send().await.map(|r| r.status()) });
        }
        while let Some(done) = set.join_next().await {
            done.unwrap().expect("request");
        }
    }

    let after = scrape(&client, &server, None).await;
    assert_eq!(
        request_series(&after),
        before,
        "seed {seed}: the series changed\n{after}"
    );
    assert!(
        after.contains(r#"method="other",route="unmatched""#),
        "{after}"
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_are_public_without_a_token() {
    let server = TestServer::start().await;
    let resp = server.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn a_metrics_token_is_required_when_configured() {
    let server = TestServer::start_with(
        |c| c.metrics_token = Some("scrape-secret".to_string()),
        false,
    )
    .await;
    let client = reqwest::Client::new();
    let resp = server.get("/metrics").await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    for wrong in ["scrape-secre", "scrape-secret-", "other", ""] {
        let resp = client
            .get(server.url("/metrics"))
            .bearer_auth(wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "token {wrong:?}");
    }
    let resp = client
        .get(server.url("/metrics"))
        .header("authorization", "Basic scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let text = scrape(&client, &server, Some("scrape-secret")).await;
    assert!(text.contains("hall_build_info"));
    // The rest of the server does not need it.
    assert_eq!(server.get("/health").await.status(), 200);
    server.stop().await;
}
