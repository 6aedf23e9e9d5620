//! The one JSON error shape for request bodies: malformed JSON, wrong content
//! type and oversize bodies, through the same application the server runs.

mod common;

use actix_web::{test, web, HttpResponse};
use api::state::AppState;
use registry::{Cache, Store, StoreOptions};
use testkit::TestDb;

#[derive(serde::Deserialize)]
struct Probe {
    #[allow(dead_code)]
    name: String,
}

async fn probe(_body: web::Json<Probe>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"ok": true}))
}

async fn call(
    max_body: usize,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let db = TestDb::create().await;
    let store = Store::connect(
        Store::parse_url(db.url()).unwrap(),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    let auth = api::auth::AuthConfig::new(b"test secret", std::time::Duration::from_secs(60), 0, 0);
    store.migrate().await.unwrap();
    let bans = registry::bans::BanCache::start(store.clone(), Cache::in_process())
        .await
        .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]);
    let receipts = registry::receipts::ReceiptWriter::start(
        store.clone(),
        registry::receipts::ReceiptKey {
            kid: audit::key_id(&key.verifying_key()),
            key,
        },
    );
    let state = web::Data::new(AppState::new(
        store,
        Cache::in_process(),
        auth,
        bans,
        receipts,
    ));
    let app = test::init_service(
        api::server::app(state, max_body, api::openapi::document())
            .route("/probe", web::post().to(probe)),
    )
    .await;
    let mut req = test::TestRequest::post().uri("/probe").set_payload(body);
    if let Some(ct) = content_type {
        req = req.insert_header(("content-type", ct));
    }
    let resp = test::call_service(&app, req.to_request()).await;
    let status = resp.status().as_u16();
    let body: serde_json::Value = test::read_body_json(resp).await;
    (status, body)
}

#[actix_web::test]
async fn well_formed_json_passes_through() {
    let (status, body) = call(1024, Some("application/json"), br#"{"name":"a"}"#.to_vec()).await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn malformed_json_is_a_400_invalid_json() {
    let (status, body) = call(1024, Some("application/json"), b"{\"name\":".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_json");
}

#[actix_web::test]
async fn json_of_the_wrong_shape_is_a_400_naming_the_field() {
    let (status, body) = call(1024, Some("application/json"), br#"{"nom":"a"}"#.to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_request");
    assert!(body["error"]["message"].as_str().unwrap().contains("name"));
}

#[actix_web::test]
async fn wrong_content_type_is_a_415() {
    let (status, body) = call(1024, Some("text/plain"), br#"{"name":"a"}"#.to_vec()).await;
    assert_eq!(status, 415);
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    let (status, _) = call(1024, None, br#"{"name":"a"}"#.to_vec()).await;
    assert_eq!(status, 415);
}

#[actix_web::test]
async fn body_over_the_configured_limit_is_a_413() {
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(200));
    let (status, body) = call(64, Some("application/json"), big.into_bytes()).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains("64"));
}
