//! Error bodies as the Tape REST API says: RFC 7807 problem details
//! (`status`, `title`, `detail`), as `application/problem+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::messaging::client::ClientError;
use crate::messaging::refusal::ErrorCode;

#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
        }
    }

    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "JSON Validation error", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", detail)
    }
}

impl From<ClientError> for Problem {
    /// The daemon's answer as the client should read it: its refusals by
    /// their code, the daemon out of reach as 503.
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Refused(r) => {
                let (status, title) = match r.code {
                    ErrorCode::NotFound => (StatusCode::NOT_FOUND, "Not found"),
                    ErrorCode::InvalidRequest
                    | ErrorCode::InvalidArgument
                    | ErrorCode::FailedPrecondition => (StatusCode::BAD_REQUEST, "Bad request"),
                    ErrorCode::PermissionDenied => (StatusCode::FORBIDDEN, "Forbidden"),
                    ErrorCode::AlreadyExists => (StatusCode::CONFLICT, "Conflict"),
                    ErrorCode::Unavailable => {
                        (StatusCode::SERVICE_UNAVAILABLE, "Tape system unavailable")
                    }
                    _ => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
                };
                Self::new(status, title, r.message)
            }
            other => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Tape system unavailable",
                other.to_string(),
            ),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": self.status.as_u16(),
            "title": self.title,
            "detail": self.detail,
        });
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
