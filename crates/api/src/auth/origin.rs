//! Cross-site request forgery: a browser sends the `pyhall_session` cookie
//! with any request to this server, whichever site makes it. A request that
//! may change state (any method but GET, HEAD and OPTIONS) and whose only
//! credential is that cookie must therefore not come from another site's
//! page: browsers name the page's origin in `Origin` (older ones at least in
//! `Referer`, and `Sec-Fetch-Site` says whether it is cross-site), and when
//! they do it must be the host the request was sent to (`Host`). A request
//! with none of these does not come from a browser page: the PyHall SDKs
//! send the cookie that way (the shared API contract), and they keep
//! working. Requests with an API key or a bearer token are not affected (a
//! browser never adds those by itself).

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{HeaderName, HOST, ORIGIN, REFERER};
use actix_web::http::{Method, StatusCode};

use crate::error::ApiError;

/// Refuses a cookie-authenticated, state-changing request from another origin.
pub(super) fn same_origin(req: &ServiceRequest) -> Result<(), ApiError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let headers = req.headers();
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let page = headers.get(ORIGIN).or_else(|| headers.get(REFERER));
    let fetch_site = headers
        .get(HeaderName::from_static("sec-fetch-site"))
        .and_then(|v| v.to_str().ok());
    let allowed = match page {
        // Not sent by a browser page: an SDK or another program.
        None => matches!(fetch_site, None | Some("same-origin" | "none")),
        Some(page) => match (host, page.to_str().ok().and_then(authority)) {
            (Some(host), Some(from)) => from.eq_ignore_ascii_case(host.trim()),
            _ => false,
        },
    };
    match allowed {
        true => Ok(()),
        false => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin_refused",
            "a request that changes something and is authenticated only by the pyhall_session \
             cookie may not come from another site's page (its Origin or Referer must name \
             this server's host); send the token as `Authorization: Bearer <token>` instead",
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
    fn a_state_changing_request_from_another_sites_page_is_refused() {
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
            (Method::POST, vec![]),
            (Method::POST, vec![("sec-fetch-site", "same-origin")]),
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
            (Method::POST, vec![("sec-fetch-site", "cross-site")]),
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
