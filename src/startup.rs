//! Building the application: the database, the state shared by handlers, and the HTTP server bound to a
//! listener (port 0 in tests, so every test gets its own).

use std::net::TcpListener;

use actix_web::dev::{Server, Service, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer, ResponseError};
use futures_util::future::{ready, Either, FutureExt};
use tracing_actix_web::{RequestId, TracingLogger};

use std::sync::Arc;

use crate::app::AppState;
use crate::channels::live::Hub;
use crate::channels::sender::Sender;
use crate::clock::Clock;
use crate::db::{Db, PoolOptions};
use crate::error::AppError;
use crate::routes;
use crate::routes::api::BodyLimit;
use crate::scheduler::Scheduler;
use crate::settings::Settings;
use crate::views::Views;

/// A built, not yet awaited, application.
pub struct Application {
    port: u16,
    server: Server,
    scheduler: Scheduler,
    sender: Sender,
    /// Stops the prompt relay when the application is dropped, whether it served to the end or its future was
    /// dropped.
    _relay: Option<crate::channels::relay::RelayHandle>,
}

impl Application {
    /// Opens the database (running migrations) and binds the listener named in settings.
    pub fn build(settings: &Settings, clock: Clock) -> anyhow::Result<Self> {
        let db = open_database(settings)?;
        let listener = TcpListener::bind(&settings.server.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.server.bind))?;
        Self::build_with(settings, db, clock, listener)
    }

    /// Builds on an existing database and listener.
    pub fn build_with(settings: &Settings, db: Db, clock: Clock, listener: TcpListener) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let tolerances = settings.tolerances()?;
        let views = Arc::new(Views::new(match settings.templates.dir.trim() {
            "" => None,
            dir => Some(std::path::Path::new(dir)),
        })?);
        let report = crate::tzdata::recompute_if_changed(&db, &tolerances, &views, clock.now())
            .map_err(|e| anyhow::anyhow!("re-deriving due times after a tzdata change failed: {e}"))?;
        if report.recomputed > 0 || report.previous.is_some_and(|v| v != crate::domain::time::tzdata_version()) {
            tracing::warn!(
                checked = report.checked,
                recomputed = report.recomputed,
                "time-zone rules changed; due times re-derived"
            );
        }
        let now_ms = clock.now().timestamp_millis();
        if db.write_blocking(|conn| Ok(crate::repo::metrics::ensure_current(conn, now_ms)?))? {
            tracing::info!("metric rollups rebuilt from the promises and the ledger");
        }
        let hub = Hub::new();
        let instance = format!("{}-{}", std::process::id(), crate::clock::new_id("node"));
        let scheduler = Scheduler::new(
            db.clone(),
            clock.clone(),
            hub.clone(),
            views.clone(),
            tolerances.clone(),
            settings.scheduler_config()?,
            instance.clone(),
        );
        let relay = crate::channels::relay::spawn_listener(
            settings.database.url.clone(),
            db.clone(),
            hub.clone(),
            instance.clone(),
        );
        let sender = Sender::new(db.clone(), clock.clone(), settings.smtp()?, instance);
        if settings.scheduler.enabled {
            actix_web::rt::spawn(crate::jobs::run(scheduler.clone()));
            actix_web::rt::spawn(crate::jobs::run(sender.clone()));
        }
        let state = web::Data::new(AppState {
            db,
            clock,
            tolerances,
            hub,
            views,
            public_url: settings.server.public_url.trim_end_matches('/').to_string(),
            http_metrics: Arc::new(crate::prometheus::HttpMetrics::default()),
            tokens: Arc::new(crate::auth::TokenCache::default()),
        });
        let web_state = web::Data::new(crate::web::WebState {
            pages: crate::web::Pages::new()?,
            limiter: crate::web::LoginLimiter::default(),
        });
        let limit = settings.server.body_limit_bytes;
        let workers = settings.server.workers;
        let mut server = HttpServer::new(move || {
            let http_metrics = state.http_metrics.clone();
            App::new()
                .wrap_fn(move |req, srv| {
                    // Durations by route pattern for Prometheus; the pattern, not the path, keeps series bounded.
                    let started = std::time::Instant::now();
                    let method = req.method().to_string();
                    let metrics = http_metrics.clone();
                    let response = srv.call(req);
                    async move {
                        let response = response.await?;
                        let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".into());
                        metrics.observe(&method, &route, response.status().as_u16(), started.elapsed());
                        Ok(response)
                    }
                })
                .wrap_fn(|req, srv| {
                    // Echo the request id that every log line of this request carries, so a client can quote it.
                    let id = req.extensions().get::<RequestId>().map(|id| id.to_string());
                    let response = srv.call(req);
                    async move {
                        let mut response = response.await?;
                        if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                            response.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
                        }
                        Ok(response)
                    }
                })
                // PostgreSQL cannot hold or compare text with a NUL in it: such a URL is refused on every route
                // before any handler can take it to the database.
                .wrap_fn(|req, srv| match routes::api::nul_in_url(req.uri()) {
                    None => Either::Left(srv.call(req).map(|answer| answer.map(ServiceResponse::map_into_left_body))),
                    Some(refusal) => {
                        let answer = req.into_response(refusal.error_response()).map_into_right_body();
                        Either::Right(ready(Ok(answer)))
                    }
                })
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .app_data(web_state.clone())
                .app_data(BodyLimit(limit))
                .app_data(web::QueryConfig::default().error_handler(routes::api::query_error))
                .app_data(
                    web::PathConfig::default().error_handler(|e, _| AppError::malformed("path", e.to_string()).into()),
                )
                .configure(routes::ops::configure)
                .configure(routes::api::configure)
                .configure(crate::web::configure)
                .default_service(web::to(not_found))
        })
        .listen(listener)?;
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Self { port, server: server.run(), scheduler, sender, _relay: relay })
    }

    /// The scheduler, for running passes by hand (tests, tools) when the loop is disabled.
    pub fn scheduler(&self) -> Scheduler {
        self.scheduler.clone()
    }

    /// The message sender, likewise.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until stopped (SIGINT/SIGTERM stop gracefully).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Connects with the settings' pool options and runs pending migrations.
pub fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    let options = PoolOptions {
        max_connections: settings.database.max_connections,
        busy_timeout: std::time::Duration::from_millis(settings.database.busy_timeout_ms),
    };
    let db = Db::connect(&settings.database.url, &options)?;
    let applied = db.migrate()?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied database migrations");
    }
    Ok(db)
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    actix_web::ResponseError::error_response(&AppError::NotFound { resource: "route", id: req.path().to_string() })
}
