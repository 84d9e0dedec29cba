//! The HTTP service: `POST /v1/recommend`, `GET /healthz`, `GET /v1/model`.
//!
//! Every error has one JSON shape, `{"error": {"status", "code", "message", "details"}}`:
//! 400 for malformed JSON, a wrong type, an empty history, an unknown response level or a `k`
//! out of range; 422 for unknown track ids (listed in `details`); 413 for a body over the
//! limit; 408 for a body that does not arrive in time; 503 past the connection cap ([`Limits`]);
//! 404 and 405 for other paths and methods. Handlers validate everything they read, so no
//! input reaches a panic, and messages name the request's fields, never server internals.
//! Requests that hyper refuses before any handler runs (a garbage request line, an unknown
//! HTTP version, too many or too large headers, a negative or overflowing Content-Length) get
//! hyper's bare status line (400 or 431) with an empty body: hyper offers no hook for it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State, rejection::BytesRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use super::conn::{Limits, serve_on};
use super::{Play, Recommendation, Recommender, RequestError};

/// `POST /v1/recommend` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    pub history: Vec<Play>,
    #[serde(default = "default_k")]
    pub k: usize,
    #[serde(default)]
    pub include_played: bool,
}

fn default_k() -> usize {
    10
}

/// `POST /v1/recommend` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecommendResponse {
    pub recommendations: Vec<Recommendation>,
}

/// An error response.
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "status": self.status.as_u16(),
            "code": self.code,
            "message": self.message,
            "details": self.details,
        }});
        (self.status, Json(body)).into_response()
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> ApiError {
        let (status, code, details) = match &e {
            RequestError::UnknownTracks(ids) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_tracks",
                ids.clone(),
            ),
            RequestError::EmptyHistory => (StatusCode::BAD_REQUEST, "empty_history", vec![]),
            RequestError::BadResponse { .. } => (StatusCode::BAD_REQUEST, "bad_response", vec![]),
            RequestError::BadK { .. } => (StatusCode::BAD_REQUEST, "bad_k", vec![]),
        };
        ApiError {
            status,
            code,
            message: e.to_string(),
            details,
        }
    }
}

/// The service's routes over a loaded recommender, behind the body guard of `limits`.
pub fn router(rec: Arc<Recommender>, limits: &Limits) -> Router {
    let routes = Router::new()
        .route("/v1/recommend", post(recommend))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/v1/model", get(model))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                message: "no such endpoint: POST /v1/recommend, GET /v1/model, GET /healthz".into(),
                details: vec![],
            }
        })
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "method not allowed on this endpoint".into(),
                details: vec![],
            }
        })
        .with_state(rec);
    guarded(routes, limits)
}

/// `routes` behind a guard that reads each request's whole body, within `limits.body_limit`
/// bytes (413 beyond) and `limits.body_timeout` (408 past it), before any handler runs. The
/// guard needs a tokio runtime with its timer enabled.
pub fn guarded(routes: Router, limits: &Limits) -> Router {
    let guard = BodyGuard {
        limit: limits.body_limit,
        timeout: limits.body_timeout,
    };
    routes
        .layer(DefaultBodyLimit::max(limits.body_limit))
        .layer(middleware::from_fn_with_state(guard, guard_body))
}

#[derive(Clone, Copy)]
struct BodyGuard {
    limit: usize,
    timeout: Duration,
}

async fn guard_body(State(g): State<BodyGuard>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(g.timeout, Limited::new(body, g.limit).collect()).await;
    let error = match read {
        Ok(Ok(collected)) => {
            return next
                .run(Request::from_parts(parts, Body::from(collected.to_bytes())))
                .await;
        }
        Err(_) => ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            code: "body_timeout",
            message: format!(
                "the request body did not arrive within {:.1} s",
                g.timeout.as_secs_f64()
            ),
            details: vec![],
        },
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "body_too_large",
            message: format!("the request body is larger than {} bytes", g.limit),
            details: vec![],
        },
        Ok(Err(e)) => ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_body",
            message: format!("could not read the request body: {e}"),
            details: vec![],
        },
    };
    // The rest of an unread body would be taken for the next request: close instead.
    let mut resp = error.into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// The recommendation itself (parsing, encoding, actor, search, critic), without the HTTP
/// layer, goes back in a `server-timing: recommend;dur=<ms>` header.
async fn recommend(
    State(rec): State<Arc<Recommender>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        let status = e.status();
        ApiError {
            status,
            code: if status == StatusCode::PAYLOAD_TOO_LARGE {
                "body_too_large"
            } else {
                "bad_body"
            },
            message: e.body_text(),
            details: vec![],
        }
    })?;
    let req: RecommendRequest = serde_json::from_slice(&body).map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "bad_json",
        message: format!("invalid request body: {e}"),
        details: vec![],
    })?;
    let t = std::time::Instant::now();
    let recommendations = rec.recommend(&req.history, req.k, req.include_played)?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let mut resp = Json(RecommendResponse { recommendations }).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("recommend;dur={ms:.4}")) {
        resp.headers_mut().insert("server-timing", v);
    }
    Ok(resp)
}

async fn model(State(rec): State<Arc<Recommender>>) -> Json<serde_json::Value> {
    Json(json!({
        "run": rec.run,
        "algo": rec.agent.cfg.algo.name(),
        "catalogue": rec.catalogue(),
        "state_dim": rec.agent.state_dim,
        "action_dim": rec.agent.action_dim,
        "max_k": rec.max_k,
        "config": rec.config,
    }))
}

/// Serves the recommender on `addr` until Ctrl-C, with the connection limits of `limits`;
/// prints the bound address first (`listening on …`).
pub fn serve(
    rec: Arc<Recommender>,
    addr: &str,
    limits: Limits,
    workers: usize,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_io()
        .enable_time()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("listening on {}", listener.local_addr()?);
        use std::io::Write;
        std::io::stdout().flush()?;
        let app = router(rec, &limits);
        serve_on(listener, app, limits, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    })
}
