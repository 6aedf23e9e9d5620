//! Cross-site request forgery: a browser sends the `pyhall_session` cookie
//! with any request to this server, whichever site makes it. A request that
//! may change state (any method but GET, HEAD and OPTIONS) and whose only
//! credential is that cookie must therefore come from a page of this
//! server: its `Origin` (or, without one, its `Referer`) must name the host
//! the request was sent to (`Host`). Requests with an API key or a bearer
//! token are not affected (a browser never adds those by itself).

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{HOST, ORIGIN, REFERER};
use actix_web::http::{Method, StatusCode};

use crate::error::ApiError;

/// Refuses a cookie-authenticated, state-changing request from another origin.
pub(super) fn same_origin(req: &ServiceRequest) -> Result<(), ApiError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let headers = req.headers();
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let source = headers
        .get(ORIGIN)
        .or_else(|| headers.get(REFERER))
        .and_then(|v| v.to_str().ok());
    match (host, source.and_then(authority)) {
        (Some(host), Some(from)) if from.eq_ignore_ascii_case(host.trim()) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin_refused",
            "a request that changes something and is authenticated only by the pyhall_session \
             cookie must come from this server's own pages (an Origin or Referer naming its \
             host); other clients send the token as `Authorization: Bearer <token>`",
        )),
    }
}

/// The `host[:port]` of an `Origin` or `Referer` URL; `None` for `null` or
/// anything that is not an http(s) URL.
fn authority(url: &str) -> Option<&str> {
    let rest = url
        .trim()
        .strip_prefix("https://")
        .or_else(|| url.trim().strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    (!authority.is_empty() && !authority.contains('@')).then_some(authority)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(method: Method, headers: &[(&str, &str)]) -> ServiceRequest {
        let mut r = TestRequest::default()
            .method(method)
            .insert_header(("host", "registry.example:8765"));
        for &(name, value) in headers {
            r = r.insert_header((name, value));
        }
        r.to_srv_request()
    }

    #[test]
    fn only_state_changing_requests_from_the_servers_own_origin_pass() {
        let ok = [
            (
                Method::POST,
                vec![("origin", "https://registry.example:8765")],
            ),
            (
                Method::DELETE,
                vec![("origin", "http://REGISTRY.example:8765")],
            ),
            (
                Method::POST,
                vec![("referer", "https://registry.example:8765/ui/keys?x=1")],
            ),
            (Method::GET, vec![]),
            (Method::GET, vec![("origin", "https://evil.example")]),
            (Method::HEAD, vec![]),
            (Method::OPTIONS, vec![]),
        ];
        for (method, headers) in ok {
            assert!(
                same_origin(&request(method.clone(), &headers)).is_ok(),
                "{method} {headers:?}"
            );
        }
        let refused = [
            (Method::POST, vec![]),
            (Method::POST, vec![("origin", "https://evil.example")]),
            (Method::POST, vec![("origin", "https://registry.example")]),
            (Method::POST, vec![("origin", "null")]),
            (
                Method::PUT,
                vec![("origin", "https://registry.example:8765.evil.example")],
            ),
            (
                Method::PATCH,
                vec![("referer", "https://evil.example/registry.example:8765")],
            ),
            (
                Method::POST,
                vec![
                    ("origin", "https://evil.example"),
                    ("referer", "https://registry.example:8765/"),
                ],
            ),
        ];
        for (method, headers) in refused {
            let err = same_origin(&request(method.clone(), &headers)).unwrap_err();
            assert_eq!(err.code(), "cross_origin_refused", "{method} {headers:?}");
        }
    }
}
