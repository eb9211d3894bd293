//! tapegw: the WLCG Tape REST API over HTTPS, in its own process, a client
//! of the daemon's stager endpoints (so it may run on another host, and
//! several may serve one site: stage requests live in the catalogue). Its
//! async runtime stays inside this module.

pub mod api;
pub mod auth;
pub mod config;
pub mod metrics;
pub mod paths;
pub mod pki;
pub mod problem;
pub mod token;
pub mod x509;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::config::StagerSettings;
use crate::messaging::stager_client::StagerClient;
use config::GatewayConfig;

/// What every handler shares.
pub struct App {
    pub config: GatewayConfig,
    pub verifier: auth::Verifier,
    pub client: StagerClient,
    /// For a bulk stage, which may take longer than the daemon's usual
    /// answer: a client that gave up would leave a request it never
    /// learnt the id of.
    pub bulk_client: StagerClient,
    pub metrics: metrics::GatewayMetrics,
}

/// How long a bulk stage may take to be answered (100,000 paths).
const BULK_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] config::GatewayConfigError),
    #[error("{0}")]
    Setup(String),
    #[error("cannot serve on {listen}: {source}")]
    Serve {
        listen: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// The API's routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/.well-known/wlcg-tape-rest-api", get(api::well_known))
        // Clients write both (gfal2 2.21 posts to ".../stage/").
        .route("/api/v1/stage", post(api::stage))
        .route("/api/v1/stage/", post(api::stage))
        .route("/api/v1/archiveinfo/", post(api::archive_info))
        .route(
            "/api/v1/stage/{id}",
            get(api::stage_status).delete(api::stage_delete),
        )
        .route("/api/v1/stage/{id}/cancel", post(api::stage_cancel))
        .route("/api/v1/release/{id}", post(api::release))
        .route("/api/v1/archiveinfo", post(api::archive_info))
        .fallback(|| async {
            problem::Problem::not_found("no such endpoint of the WLCG Tape REST API v1")
        })
        // Bodies are read by the handlers, which answer an oversized one
        // with the API's 413 (`api::json_body`).
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(app.clone(), log_request))
        .with_state(app)
}

/// One log line per request (method, path, status, time taken), and its
/// metrics, counted by route so that request ids do not make new series.
async fn log_request(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    // The route's template (ids left out; the two spellings of a route
    // one series); "other" for no route.
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("other".to_string(), |m| {
            let p = m.as_str().trim_end_matches('/');
            if p.is_empty() { "/" } else { p }.to_string()
        });
    let started = Instant::now();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    tracing::info!(
        method = %method,
        path = %path,
        status,
        ms = seconds * 1000.0,
        "request"
    );
    app.metrics
        .request(method.as_str(), &endpoint, status, seconds);
    response
}

/// Serves `/metrics` on loopback until the process ends.
async fn serve_metrics(app: Arc<App>, listen: std::net::SocketAddr) -> Result<(), GatewayError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| GatewayError::Serve { listen, source })?;
    tracing::info!(listen = %listen, "tapegw metrics endpoint ready");
    let routes = Router::new().route(
        "/metrics",
        get(|State(app): State<Arc<App>>| async move {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                app.metrics.text(),
            )
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, routes.with_state(app)).await {
            tracing::error!(error = %e, "the metrics endpoint stopped");
        }
    });
    Ok(())
}

/// Loads the config and serves until SIGTERM or SIGINT.
pub fn run(config_path: &std::path::Path) -> Result<(), GatewayError> {
    let config = GatewayConfig::load(config_path)?;
    let daemon = StagerSettings::load(Some(config.gateway.daemon_config.clone()), Vec::new())
        .map_err(|e| GatewayError::Setup(e.to_string()))?;
    if let Some(keys) = daemon.keys.clone() {
        crate::messaging::curve::set_client_keys(keys);
    }
    let verifier = auth::Verifier::new(&config).map_err(GatewayError::Setup)?;
    let app = Arc::new(App {
        client: StagerClient::with_endpoints(daemon.endpoints.clone(), daemon.timeout),
        bulk_client: StagerClient::with_endpoints(
            daemon.endpoints.clone(),
            daemon.timeout.max(BULK_TIMEOUT),
        ),
        verifier,
        config,
        metrics: metrics::GatewayMetrics::new(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tapegw")
        .enable_all()
        .build()
        .map_err(|e| GatewayError::Setup(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(serve(app))
}

async fn serve(app: Arc<App>) -> Result<(), GatewayError> {
    let g = app.config.gateway.clone();
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot catch SIGTERM and SIGINT");
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping: requests in flight get 10 s to finish");
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let ready = handle.clone();
    let sitename = g.sitename.clone();
    tokio::spawn(async move {
        if let Some(addr) = ready.listening().await {
            tracing::info!(listen = %addr, sitename = %sitename, "tapegw serving the WLCG Tape REST API");
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        }
    });
    if let Some(listen) = g.metrics_listen {
        serve_metrics(app.clone(), listen).await?;
    }
    let app_x509 = app.config.x509.clone();
    let service = router(app).into_make_service();
    let served = if g.plain_http {
        axum_server::bind(g.listen)
            .handle(handle)
            .serve(service)
            .await
    } else {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (cert, key) = match (&g.certificate, &g.key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => {
                return Err(GatewayError::Setup(
                    "HTTPS needs a certificate and a key".into(),
                ));
            }
        };
        let tls =
            x509::server_config(&cert, &key, app_x509.as_ref()).map_err(GatewayError::Setup)?;
        let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls));
        axum_server::bind_rustls(g.listen, tls)
            .handle(handle)
            .serve(service)
            .await
    };
    served.map_err(|source| GatewayError::Serve {
        listen: g.listen,
        source,
    })
}
