//! The API's error: a status and an [`ApiError`] body, made from what handlers run into.
//!
//! Owns the mapping from failures to statuses and codes. Must not: put a secret or an internal
//! path the client cannot act on into a message (store errors are logged, the client gets a
//! generic `internal`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_protocol::api::ApiError;

#[derive(Debug)]
pub struct Error {
    pub status: StatusCode,
    pub body: ApiError,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Error {
        Error {
            status,
            body: ApiError {
                code: code.into(),
                error: message.into(),
                details: Vec::new(),
            },
        }
    }

    pub fn details(mut self, details: Vec<String>) -> Error {
        self.body.details = details;
        self
    }

    pub fn unauthorized(message: &str) -> Error {
        Error::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn csrf(message: &str) -> Error {
        Error::new(StatusCode::FORBIDDEN, "csrf", message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Error {
        Error::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    pub fn internal(what: &str, e: impl std::fmt::Display) -> Error {
        tracing::error!("api: {what}: {e}");
        Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{what} failed; the server's log says why"),
        )
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Error {
        match e {
            crate::store::StoreError::NoSuchRun(id) => Error::not_found(format!("no run {id}")),
            e => Error::internal("the state store", e),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
