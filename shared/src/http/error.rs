//! Errors as HTTP answers: `{"error": {"code", "message"}}`. 5xx bodies say nothing internal; the
//! full source chain is logged once, here.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::auth::AuthError;
use crate::dashboard::DashboardError;
use crate::domain::FieldError;
use crate::install::InstallError;
use crate::store::StoreError;

/// Every error a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such route")]
    NotFound,
    #[error("unknown shop")]
    UnknownShop,
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("body too large")]
    PayloadTooLarge { limit: usize },
    /// A delivery whose data would push an item past the store's limit: it can never be stored.
    #[error("item too large")]
    ItemTooLarge,
    #[error("unauthorized")]
    Unauthorized {
        code: &'static str,
        message: &'static str,
    },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("{message}")]
    BadGateway { code: &'static str, message: String },
    #[error("too many requests")]
    TooManyRequests { retry_after_seconds: u64 },
    /// Past a rate limit (contract: "Limits"): `429 rate_limited` with `Retry-After`.
    #[error("rate limited")]
    RateLimited { retry_after_seconds: u64 },
    /// The work this request needs is at capacity (password hashing): `503`, `Retry-After: 1`.
    #[error("busy")]
    Busy,
    #[error("storage failed")]
    Store(#[from] StoreError),
    #[error("internal failure: {0}")]
    Internal(&'static str),
    /// A browser step of the install that failed: `302` to the page, the code in the fragment.
    #[error("redirected with {code}")]
    RedirectToPage { code: &'static str },
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// Missing or invalid credentials on a tenant endpoint.
    pub fn unauthorized() -> ApiError {
        ApiError::Unauthorized {
            code: "unauthorized",
            message: "Valid credentials are required: Authorization: Bearer <token> or X-Api-Key.",
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "No such route.".into()),
            ApiError::UnknownShop => (
                StatusCode::NOT_FOUND,
                "unknown_shop",
                "This shop is not connected to any account.".into(),
            ),
            ApiError::BadRequest { code, message } => {
                (StatusCode::BAD_REQUEST, code, message.clone())
            }
            ApiError::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("The body must be at most {limit} bytes."),
            ),
            ApiError::ItemTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "item_too_large",
                "A field of this delivery is too large to store (items are at most 400 KB).".into(),
            ),
            ApiError::Unauthorized { code, message } => {
                (StatusCode::UNAUTHORIZED, code, (*message).to_owned())
            }
            ApiError::Conflict { code, message } => (StatusCode::CONFLICT, code, message.clone()),
            ApiError::Unprocessable { code, message } => {
                (StatusCode::UNPROCESSABLE_ENTITY, code, message.clone())
            }
            ApiError::BadGateway { code, message } => {
                (StatusCode::BAD_GATEWAY, code, message.clone())
            }
            ApiError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Too many failed attempts; wait before trying again.".into(),
            ),
            ApiError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests; wait before trying again.".into(),
            ),
            ApiError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Too many sign-ins at once; retry in a second.".into(),
            ),
            ApiError::Store(e) if e.is_retryable() => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The service is busy; retry shortly.".into(),
            ),
            ApiError::RedirectToPage { code } => (
                StatusCode::FOUND,
                code,
                "The install did not finish.".into(),
            ),
            ApiError::Store(_) | ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on our side.".into(),
            ),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> ApiError {
        ApiError::BadRequest {
            code: e.code,
            message: e.message,
        }
    }
}

impl From<DashboardError> for ApiError {
    fn from(e: DashboardError) -> ApiError {
        match e {
            DashboardError::InvalidCursor => ApiError::bad_request(
                "invalid_cursor",
                "cursor is not valid for this query; start from the first page.",
            ),
            DashboardError::Store(s) => ApiError::Store(s),
            DashboardError::Internal(what) => ApiError::Internal(what),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::EmailTaken => ApiError::Conflict {
                code: "email_taken",
                message: "An account with this email already exists.".into(),
            },
            AuthError::ShopTaken => ApiError::Conflict {
                code: "shop_taken",
                message: "This shop is already registered.".into(),
            },
            AuthError::InvalidCredentials => ApiError::Unauthorized {
                code: "invalid_credentials",
                message: "Email or password is wrong.",
            },
            AuthError::Unauthorized => ApiError::unauthorized(),
            AuthError::Throttled {
                retry_after_seconds,
            } => ApiError::TooManyRequests {
                retry_after_seconds,
            },
            AuthError::Busy => ApiError::Busy,
            AuthError::Store(s) => ApiError::Store(s),
            AuthError::Internal(what) => ApiError::Internal(what),
        }
    }
}

impl From<InstallError> for ApiError {
    fn from(e: InstallError) -> ApiError {
        match e {
            InstallError::BadHmac => ApiError::Unauthorized {
                code: "invalid_hmac",
                message: "The request's hmac is missing or wrong.",
            },
            InstallError::InvalidShop => ApiError::bad_request(
                "invalid_shop_domain",
                "shop must look like your-shop.myshopify.com",
            ),
            InstallError::InvalidState => ApiError::bad_request(
                "invalid_state",
                "This install link is unknown, used, expired or for another shop; start again.",
            ),
            InstallError::InvalidCode => ApiError::bad_request(
                "invalid_code",
                "Shopify refused the authorization code; start the install again.",
            ),
            InstallError::MissingScopes => ApiError::RedirectToPage {
                code: "missing_scopes",
            },
            InstallError::Unreachable(_) => ApiError::BadGateway {
                code: "shopify_unreachable",
                message: "Shopify could not be reached; try again shortly.".into(),
            },
            InstallError::InvalidSigninCode => ApiError::Unauthorized {
                code: "invalid_signin_code",
                message: "This sign-in code is unknown, used or expired.",
            },
            InstallError::LoginAlreadySet => ApiError::Conflict {
                code: "login_already_set",
                message: "This account already has a login.".into(),
            },
            InstallError::Auth(a) => a.into(),
            InstallError::Sync(s) => s.into(),
            InstallError::Store(s) => ApiError::Store(s),
            InstallError::Internal(what) => ApiError::Internal(what),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if let ApiError::RedirectToPage { code } = self {
            return redirect(&format!("/#error={code}"));
        }
        if status.is_server_error() {
            tracing::error!(error = %chain(&self), code, "request failed");
        }
        let body = serde_json::json!({"error": {"code": code, "message": message}});
        let mut res = (status, Json(body)).into_response();
        let retry_after = match self {
            ApiError::TooManyRequests {
                retry_after_seconds,
            } => Some(retry_after_seconds),
            ApiError::RateLimited {
                retry_after_seconds,
            } => Some(retry_after_seconds),
            ApiError::Busy => Some(1),
            _ => None,
        };
        if let Some(s) = retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

/// `302 Found` to `location`.
pub fn redirect(location: &str) -> Response {
    let mut res = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// The error and its sources on one line, for the log.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
