//! Logto's Management API, the part application tests need: `GET /api/applications`,
//! `GET /api/users` and `PATCH /api/users/{id}/custom-data`, behind Logto's Bearer token check
//! (`koa-auth`) and with its pagination (`koa-pagination`). Modelled on Logto's source, not
//! recorded (see the crate documentation).

use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use hyper::body::Bytes;
use serde_json::{Map, Value, json};

use crate::management_data::ManagementData;
use crate::server::{self, Shared};
use crate::transport::ResponseBody;
use crate::verify::{self, TokenRejected};

/// Where the Management API routes live.
pub(crate) const PREFIX: &str = "/api/";
/// `koa-pagination`'s defaults.
const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 100;
const JSON: &str = "application/json; charset=utf-8";

/// A Logto `RequestError` answer: `{"message","code"}`.
fn request_error(status: StatusCode, code: &str, message: &str) -> Response<ResponseBody> {
    let body = json!({ "message": message, "code": code }).to_string();
    json_response(status, body)
}

fn json_response(status: StatusCode, body: String) -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    r
}

/// Answers a request under [`PREFIX`].
pub(crate) fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Result<Bytes, StatusCode>,
) -> Response<ResponseBody> {
    if let Err(response) = authorize(shared, headers) {
        return *response;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::GET, ["api", "applications"]) => {
            let items = shared.management().applications.clone();
            list(items, query, true)
        }
        (&Method::GET, ["api", "users"]) => {
            let items = shared.management().users.clone();
            list(items, query, false)
        }
        (&Method::PATCH, ["api", "users", id, "custom-data"]) => {
            update_custom_data(&mut shared.management(), id, body)
        }
        _ => {
            let mut r = Response::new(ResponseBody::full("Not Found"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
    }
}

/// `koa-auth`: a Bearer token, valid for the Management API, with the scope `all`.
fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), Box<Response<ResponseBody>>> {
    let unauthorized = |code: &str, message: &str| {
        Box::new(request_error(StatusCode::UNAUTHORIZED, code, message))
    };
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "auth.authorization_header_missing",
            "Authorization header is missing.",
        ));
    };
    let Some(token) = authorization
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return Err(unauthorized(
            "auth.authorization_token_type_not_supported",
            "Authorization type is not supported.",
        ));
    };
    let claims = shared
        .config
        .management_api_indicators()
        .find_map(|audience| shared.verify_token(token, audience).ok())
        .ok_or_else(|| {
            unauthorized(
                "auth.unauthorized",
                "Unauthorized. Please check credentials and its scope.",
            )
        })?;
    if claims.subject().is_none() {
        return Err(unauthorized(
            "auth.jwt_sub_missing",
            "Missing `sub` in JWT.",
        ));
    }
    if !claims.has_scope(crate::config::defaults::MANAGEMENT_API_SCOPE) {
        return Err(Box::new(request_error(
            StatusCode::FORBIDDEN,
            "auth.forbidden",
            "Forbidden. Please check your user roles and permissions.",
        )));
    }
    Ok(())
}

/// `koa-pagination`: `page` (from 1) and `page_size` (default 20, at most 100), the total in
/// `Total-Number`. With `optional`, a request with neither gets every item and no header.
fn list(items: Vec<Value>, query: Option<&str>, optional: bool) -> Response<ResponseBody> {
    let mut page = None;
    let mut page_size = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "page" => page = Some(value.into_owned()),
            "page_size" => page_size = Some(value.into_owned()),
            _ => {}
        }
    }
    let empty = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
    if optional && empty(&page) && empty(&page_size) {
        return json_response(StatusCode::OK, Value::Array(items).to_string());
    }
    let positive = |v: &Option<String>, default: usize, max: usize| match v.as_deref() {
        None | Some("") => Some(default),
        Some(text) => text.parse::<usize>().ok().filter(|n| (1..=max).contains(n)),
    };
    let (Some(page), Some(page_size)) = (
        positive(&page, 1, usize::MAX),
        positive(&page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
    ) else {
        return request_error(
            StatusCode::BAD_REQUEST,
            "guard.invalid_pagination",
            "The pagination value of the request is invalid.",
        );
    };
    let total = items.len();
    let skip = (page - 1).saturating_mul(page_size);
    let slice: Vec<Value> = items.into_iter().skip(skip).take(page_size).collect();
    let mut r = json_response(StatusCode::OK, Value::Array(slice).to_string());
    r.headers_mut()
        .insert("total-number", HeaderValue::from(total));
    r
}

/// `PATCH /api/users/{id}/custom-data` with `{"customData":{…}}`: merges the object into the
/// user's `customData` (top-level keys replaced, as Logto's `jsonb` merge) and answers the result.
fn update_custom_data(
    data: &mut ManagementData,
    id: &str,
    body: Result<Bytes, StatusCode>,
) -> Response<ResponseBody> {
    let invalid = || {
        request_error(
            StatusCode::BAD_REQUEST,
            "guard.invalid_input",
            "The request input is invalid.",
        )
    };
    let update = match body {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).ok(),
        Err(status) => return request_error(status, "request.general", "Request error occurred."),
    };
    let Some(Value::Object(update)) =
        update.and_then(|mut v| v.get_mut("customData").map(Value::take))
    else {
        return invalid();
    };
    let Some(user) = data
        .users
        .iter_mut()
        .find(|u| u.get("id").and_then(Value::as_str) == Some(id))
    else {
        return request_error(
            StatusCode::NOT_FOUND,
            "entity.not_exists_with_id",
            &format!("The users with ID `{id}` does not exist."),
        );
    };
    let mut custom_data = match user.get("customData") {
        Some(Value::Object(existing)) => existing.clone(),
        _ => Map::new(),
    };
    custom_data.extend(update);
    if let Some(object) = user.as_object_mut() {
        object.insert("customData".to_owned(), Value::Object(custom_data.clone()));
        object.insert(
            "updatedAt".to_owned(),
            Value::from(server::unix_now() * 1000),
        );
    }
    json_response(StatusCode::OK, Value::Object(custom_data).to_string())
}

impl Shared {
    /// Verifies a token this server issued for `audience`, now.
    pub(crate) fn verify_token(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<verify::AccessTokenClaims, TokenRejected> {
        verify::verify(
            token,
            &self.keys().jwks_json(),
            &self.issuer,
            audience,
            server::unix_now(),
        )
    }
}
