//! The WLCG Tape REST API v1 handlers: discovery, STAGE (submit, poll,
//! cancel, delete), RELEASE and ARCHIVEINFO, each a call to the daemon's
//! stager endpoint made on a blocking thread (ZMQ stays off the runtime).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::App;
use super::auth::{Access, Identity};
use super::paths::normalise;
use super::problem::Problem;
use crate::messaging::client::ClientError;
use crate::messaging::stager_client::StagerClient;
use crate::proto::stager::{self, StageFile};

type Answer = Result<Response, Problem>;

/// Runs a daemon call on a blocking thread.
async fn daemon<T: Send + 'static>(
    app: &Arc<App>,
    call: impl FnOnce(&StagerClient) -> Result<T, ClientError> + Send + 'static,
) -> Result<T, Problem> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || call(&app.client))
        .await
        .map_err(|e| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                format!("the daemon call failed: {e}"),
            )
        })?
        .map_err(Problem::from)
}

/// Who asks: the bearer token's subject, or else the configured client
/// of the verified X.509 certificate the connection was made with.
fn identity(app: &App, headers: &HeaderMap, tls: &Tls) -> Result<Identity, Problem> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let unauthorized = |why: String| Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized", why);
    let certificate = tls
        .as_ref()
        .and_then(|Extension(info)| info.peer_certificates.first());
    if let (None, Some(der), Some(x509)) = (auth, certificate, &app.config.x509) {
        // rustls verified it against x509.ca during the handshake.
        let subject = super::x509::subject(der)
            .ok_or_else(|| unauthorized("the client certificate cannot be read".into()))?;
        let client = super::x509::client(x509, &subject).ok_or_else(|| {
            Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!("no client is configured for the certificate {subject:?}"),
            )
        })?;
        return Ok(Identity::of_certificate(
            &client.name,
            &subject,
            &client.roots,
        ));
    }
    app.verifier
        .verify(auth)
        .map_err(|e| unauthorized(e.to_string()))
}

/// What the TLS handshake learnt (absent on plain HTTP).
type Tls = Option<Extension<Arc<axum_server::tls::TlsInfo>>>;

/// The body, or the API's 413. It is read before anything is answered
/// (an HTTP/2 client still sending when the answer comes sees its stream
/// reset, not the answer). A body over the limit is read on and dropped, up to four times
/// the limit, so that the client (which may still be sending) reads the
/// 413 instead of a reset stream; a larger one gets the connection cut.
async fn read_body(app: &App, body: Body) -> Result<Vec<u8>, Problem> {
    let limit = usize::try_from(app.config.gateway.max_body.0).unwrap_or(usize::MAX);
    let mut body = body;
    let mut bytes: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "Bad request",
                format!("cannot read the body: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            bytes.extend_from_slice(&data);
        } else if seen > limit.saturating_mul(4) {
            break;
        }
    }
    if seen > limit {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            format!("the request body is larger than {limit} bytes: ask in several requests"),
        ));
    }
    Ok(bytes)
}

fn parse(bytes: Result<Vec<u8>, Problem>) -> Result<Value, Problem> {
    serde_json::from_slice(&bytes?)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "Malformed JSON", e.to_string()))
}

/// A field that must be a non-empty array (the API's validation error
/// otherwise).
fn array_field<'a>(body: &'a Value, name: &str) -> Result<&'a Vec<Value>, Problem> {
    body.get(name)
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            Problem::validation(format!(
                "{name} - Field does not exist or is not a valid non-empty array"
            ))
        })
}

/// `paths`: a non-empty array of strings, each normalised.
fn paths_field(body: &Value) -> Result<Vec<String>, Problem> {
    let list = array_field(body, "paths")?;
    list.iter()
        .map(|p| {
            let p = p
                .as_str()
                .ok_or_else(|| Problem::validation("paths - every path must be a string"))?;
            normalise(p).map_err(Problem::validation)
        })
        .collect()
}

/// An ISO 8601 duration (PnW, or PnDTnHnMnS) in seconds.
pub fn iso_duration(text: &str) -> Option<u64> {
    let rest = text.strip_prefix('P')?;
    if let Some(weeks) = rest.strip_suffix('W') {
        return weeks.parse::<u64>().ok()?.checked_mul(7 * 86_400);
    }
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    if rest.is_empty() || (rest.contains('T') && time.is_empty()) {
        return None;
    }
    let mut total = 0u64;
    let mut add = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
            } else {
                let (_, scale) = units.iter().find(|(u, _)| *u == c)?;
                let n: u64 = number.parse().ok()?;
                total = total.checked_add(n.checked_mul(*scale)?)?;
                number.clear();
            }
        }
        number.is_empty().then_some(())
    };
    add(date, &[('D', 86_400)])?;
    add(time, &[('H', 3600), ('M', 60), ('S', 1)])?;
    Some(total)
}

pub async fn well_known(State(app): State<Arc<App>>) -> Response {
    let mut body = json!({
        "sitename": app.config.gateway.sitename,
        "endpoints": [{ "uri": app.config.api_uri(), "version": "v1", "metadata": {} }],
    });
    if let Some(d) = &app.config.gateway.description {
        body["description"] = json!(d);
    }
    Json(body).into_response()
}

pub async fn stage(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    tls: Tls,
    body: Body,
) -> Answer {
    let raw = read_body(&app, body).await;
    let who = identity(&app, &headers, &tls)?;
    let body = parse(raw)?;
    let files = array_field(&body, "files")?;
    let mut wanted = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let path = f
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| Problem::validation(format!("files[{i}].path - a string is needed")))?;
        let path = normalise(path).map_err(Problem::validation)?;
        let lifetime = match f.get("diskLifetime") {
            None | Some(Value::Null) => 0,
            Some(Value::String(d)) => iso_duration(d).ok_or_else(|| {
                Problem::validation(format!(
                    "files[{i}].diskLifetime - {d:?} is not an ISO 8601 duration"
                ))
            })?,
            Some(_) => {
                return Err(Problem::validation(format!(
                    "files[{i}].diskLifetime - an ISO 8601 duration string is needed"
                )));
            }
        };
        if !who.allows(Access::Stage, &path) {
            return Err(Problem::forbidden(format!(
                "{path}: you may not stage it (no storage.stage scope of the token, nor a root of the certificate's client, covers it)"
            )));
        }
        wanted.push(StageFile {
            path,
            disk_lifetime_s: lifetime,
        });
    }
    let requester = who.requester.clone();
    let bulk = app.clone();
    let files = wanted.len();
    let id = daemon(&app, move |_| {
        bulk.bulk_client.bulk_stage(wanted, &requester)
    })
    .await?;
    app.metrics.staged(files);
    let location = format!("{}/stage/{id}", app.config.api_uri());
    let mut response = (StatusCode::CREATED, Json(json!({ "requestId": id }))).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

fn state_name(state: i32) -> &'static str {
    match stager::StageFileState::try_from(state) {
        Ok(stager::StageFileState::Submitted) => "SUBMITTED",
        Ok(stager::StageFileState::Started) => "STARTED",
        Ok(stager::StageFileState::Completed) => "COMPLETED",
        Ok(stager::StageFileState::Failed) => "FAILED",
        Ok(stager::StageFileState::Cancelled) => "CANCELLED",
        _ => "SUBMITTED",
    }
}

/// Seconds since the epoch as the API's unsigned integers.
fn epoch(t: f64) -> u64 {
    t.max(0.0) as u64
}

pub async fn stage_status(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    tls: Tls,
    Path(id): Path<String>,
) -> Answer {
    let who = identity(&app, &headers, &tls)?;
    let requester = who.requester.clone();
    let s = daemon(&app, move |c| c.stage_status(&id, &requester)).await?;
    let files: Vec<Value> = s
        .files
        .iter()
        .map(|f| {
            let mut v = json!({ "path": f.path, "state": state_name(f.state) });
            if let Some(e) = &f.error {
                v["error"] = json!(e);
            }
            if f.started_at > 0.0 {
                v["startedAt"] = json!(epoch(f.started_at));
            }
            if f.finished_at > 0.0 {
                v["finishedAt"] = json!(epoch(f.finished_at));
            }
            v
        })
        .collect();
    let mut body = json!({
        "id": s.id,
        "createdAt": epoch(s.created_at),
        "startedAt": epoch(s.started_at),
        "files": files,
    });
    if s.completed_at > 0.0 {
        body["completedAt"] = json!(epoch(s.completed_at));
        app.metrics
            .stage_completed(&s.id, s.completed_at - s.created_at);
    }
    Ok(Json(body).into_response())
}

/// The daemon refuses a cancel or release naming a path outside the
/// request (the only argument it can refuse; nothing is changed then):
/// the API's title for it.
fn missing_file(p: Problem) -> Problem {
    if p.status == StatusCode::BAD_REQUEST {
        Problem::new(p.status, "File missing from stage request", p.detail)
    } else {
        p
    }
}

/// The requester and the paths of a cancel or release.
async fn paths_in_request(
    app: &Arc<App>,
    headers: &HeaderMap,
    tls: &Tls,
    body: Body,
) -> Result<(String, Vec<String>), Problem> {
    let raw = read_body(app, body).await;
    let who = identity(app, headers, tls)?;
    let paths = paths_field(&parse(raw)?)?;
    Ok((who.requester, paths))
}

pub async fn stage_cancel(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    tls: Tls,
    Path(id): Path<String>,
    body: Body,
) -> Answer {
    let (requester, paths) = paths_in_request(&app, &headers, &tls, body).await?;
    daemon(&app, move |c| c.stage_cancel(&id, &requester, paths))
        .await
        .map_err(missing_file)?;
    Ok(StatusCode::OK.into_response())
}

pub async fn stage_delete(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    tls: Tls,
    Path(id): Path<String>,
) -> Answer {
    let who = identity(&app, &headers, &tls)?;
    let requester = who.requester.clone();
    daemon(&app, move |c| c.stage_delete(&id, &requester)).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn release(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    tls: Tls,
    Path(id): Path<String>,
    body: Body,
) -> Answer {
    let (requester, paths) = paths_in_request(&app, &headers, &tls, body).await?;
    daemon(&app, move |c| c.stage_release(&id, &requester, paths))
        .await
        .map_err(missing_file)?;
    Ok(StatusCode::OK.into_response())
}

/// A file's locality (or why none can be given) from the daemon's view.
fn locality(p: &stager::PathStatus) -> Result<&'static str, String> {
    use stager::FileState as S;
    let unknown = || "USER ERROR: file does not exist or is not accessible to you".to_string();
    let Some(f) = &p.file else {
        return Err(unknown());
    };
    if f.size == 0 {
        return Ok("NONE");
    }
    match S::try_from(f.state) {
        Ok(S::OnTape) if p.on_disk => Ok("DISK_AND_TAPE"),
        Ok(S::OnTape) if f.copies.iter().any(|c| c.state == "good") => Ok("TAPE"),
        Ok(S::OnTape) => Ok("UNAVAILABLE"),
        Ok(S::Queued) if p.on_disk => Ok("DISK"),
        Ok(S::Queued) => Err("not on tape yet, and its disk copy is gone".into()),
        Ok(S::Failed) => Err(format!(
            "it will not be written to tape: {}",
            f.error.as_deref().unwrap_or("its archive failed")
        )),
        Ok(S::Lost) => Ok("LOST"),
        _ => Err(unknown()),
    }
}

pub async fn archive_info(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    tls: Tls,
    body: Body,
) -> Answer {
    let raw = read_body(&app, body).await;
    let who = identity(&app, &headers, &tls)?;
    let body = parse(raw)?;
    let list = array_field(&body, "paths")?;
    // Too many paths is no error: the answer covers those it could fetch.
    let list = &list[..list.len().min(crate::messaging::stager_client::MAX_PATHS)];
    // Answered in the order asked; the daemon is asked about the paths
    // that are well formed and within the token's scopes, each once.
    let mut answers: Vec<Option<Value>> = Vec::with_capacity(list.len());
    let mut asked: Vec<String> = Vec::new();
    let mut waiting: Vec<(usize, String)> = Vec::new();
    for p in list {
        let Some(raw) = p.as_str() else {
            return Err(Problem::validation("paths - every path must be a string"));
        };
        match normalise(raw) {
            Err(e) => answers.push(Some(json!({ "path": raw, "error": e }))),
            Ok(path) if !who.allows(Access::Read, &path) => answers.push(Some(json!({
                "path": path,
                "error": "USER ERROR: file does not exist or is not accessible to you",
            }))),
            Ok(path) => {
                waiting.push((answers.len(), path.clone()));
                answers.push(None);
                asked.push(path);
            }
        }
    }
    asked.sort();
    asked.dedup();
    if !asked.is_empty() {
        let found: std::collections::HashMap<String, Value> =
            daemon(&app, move |c| c.path_status(asked))
                .await?
                .into_iter()
                .map(|p| {
                    let v = match locality(&p) {
                        Ok(l) => json!({ "path": p.path, "locality": l }),
                        Err(e) => json!({ "path": p.path, "error": e }),
                    };
                    (p.path, v)
                })
                .collect();
        for (i, path) in waiting {
            answers[i] = found.get(&path).cloned();
        }
    }
    Ok(Json(Value::Array(answers.into_iter().flatten().collect())).into_response())
}
