//! `vego serve`: an HTTP server over one [`Db`] that speaks the
//! subset of [Qdrant's REST API](https://api.qdrant.tech/) that clients such
//! as the Python `qdrant-client` use for collections, upserts, retrieval,
//! deletes, filtered search, count and scroll. Existing Qdrant client code
//! can point at a Vego directory instead of a Qdrant service.
//!
//! * tokio + axum; every engine call runs on tokio's blocking pool, so a
//!   slow fsync never stalls the async workers.
//! * An upsert or delete is answered once durable (`Durability::Sync`,
//!   group-committed across concurrent requests): a 200 means it survives
//!   a crash.
//! * With an API key, requests without it (`api-key: KEY` or
//!   `Authorization: Bearer KEY`) get 401.
//! * Requests outside the subset get a 4xx with a message saying so, never
//!   a silently different answer. `docs/SERVER.md` lists the endpoints.
//!
//! ```no_run
//! use vego::server::{Server, ServerOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = vego::Db::open("./data", vego::Options::default())?;
//! let server = Server::start(db, ServerOptions::new("127.0.0.1:6333".parse()?))?;
//! println!("listening on {}", server.addr());
//! server.run_until_signal()?; // SIGINT / SIGTERM: finish requests, flush, close
//! # Ok(()) }
//! ```

mod auth;
mod body;
mod collections;
mod error;
mod filter;
mod path;
mod payload;
mod point_id;
mod points;
mod query;
mod routes;
mod updates;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::body::Bytes;
use serde_json::{json, Map, Value as Json};

use crate::{Collection, Db};
pub use body::{BODY_READ_TIMEOUT, REQUEST_BYTES_IN_FLIGHT_MAX};
use error::ApiError;
pub use routes::QDRANT_API_VERSION;

/// Largest request body, in bytes (an upsert of ~10k 768-d vectors as JSON).
pub const REQUEST_BYTES_MAX: usize = 64 << 20;
/// Most engine calls running at once on the blocking pool; more requests
/// wait for a thread rather than each taking one.
pub const BLOCKING_THREADS_MAX: usize = 64;

/// How to serve.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Address to listen on (port 0: any free port; see [`Server::addr`]).
    pub addr: SocketAddr,
    /// If set, every request must carry this key.
    pub api_key: Option<String>,
    /// How long a client may take to send a request's headers (from the
    /// connection's start or the end of the previous response); then the
    /// connection is closed. Default [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: std::time::Duration,
    /// How long a client may take to send a request's body (408 after).
    /// Default [`BODY_READ_TIMEOUT`].
    pub body_read_timeout: std::time::Duration,
}

impl ServerOptions {
    /// Listen on `addr`, without an API key.
    pub fn new(addr: SocketAddr) -> ServerOptions {
        ServerOptions {
            addr,
            api_key: None,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
        }
    }

    /// Sets [`ServerOptions::header_read_timeout`].
    pub fn header_read_timeout(mut self, d: std::time::Duration) -> ServerOptions {
        self.header_read_timeout = d;
        self
    }

    /// Sets [`ServerOptions::body_read_timeout`].
    pub fn body_read_timeout(mut self, d: std::time::Duration) -> ServerOptions {
        self.body_read_timeout = d;
        self
    }

    /// Require `key` on every request.
    pub fn api_key(mut self, key: impl Into<String>) -> ServerOptions {
        self.api_key = Some(key.into());
        self
    }
}

/// A running server. [`Server::shutdown`] (or a signal, with
/// [`Server::run_until_signal`]) stops it gracefully: no new connections,
/// requests in flight finish, then the database is flushed and closed.
pub struct Server {
    addr: SocketAddr,
    db: Db,
    runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Binds `opts.addr` and serves `db` on background threads; returns at once.
    pub fn start(db: Db, opts: ServerOptions) -> std::io::Result<Server> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("vego-serve")
            .max_blocking_threads(BLOCKING_THREADS_MAX)
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(opts.addr))?;
        let addr = listener.local_addr()?;
        let state = AppState {
            db: db.clone(),
            operations: Arc::new(AtomicU64::new(0)),
            api_key: opts.api_key.map(Arc::from),
            write_gate: Arc::new(parking_lot::RwLock::new(())),
            payload_indexes: Arc::default(),
            body_budget: body::budget(),
            body_read_timeout: opts.body_read_timeout,
        };
        let app = routes::router(state);
        let header_timeout = opts.header_read_timeout;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = runtime.handle().clone();
        let thread = std::thread::Builder::new().name("vego-serve-main".into()).spawn(move || {
            let served = runtime.block_on(serve(listener, app, stopped, header_timeout));
            // Engine calls still running finish before the database closes.
            runtime.shutdown_timeout(std::time::Duration::from_secs(60));
            served
        })?;
        Ok(Server { addr, db, runtime: handle, stop: Some(stop), thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops gracefully, then flushes and closes the database.
    pub fn shutdown(mut self) -> crate::Result<()> {
        self.stop_serving()?;
        self.db.clone().close()
    }

    /// Serves until SIGINT or SIGTERM, then [`Server::shutdown`].
    pub fn run_until_signal(self) -> crate::Result<()> {
        let signalled = self.runtime.block_on(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            }
        });
        signalled.map_err(|e| crate::Error::Io { path: "signal handler".into(), source: e })?;
        self.shutdown()
    }

    fn stop_serving(&mut self) -> crate::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => Err(crate::Error::Io { path: self.addr.to_string().into(), source: e }),
            Some(Err(_)) => Err(crate::Error::Io {
                path: self.addr.to_string().into(),
                source: std::io::Error::other("server thread panicked"),
            }),
            _ => Ok(()),
        }
    }
}

impl Drop for Server {
    /// Stops serving (the database closes when its last handle drops).
    fn drop(&mut self) {
        let _ = self.stop_serving();
    }
}

/// How long a client may take to send a request's headers, counted from
/// the connection's start or the end of its previous response (so idle and
/// half-open connections are closed too).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Accepts connections and serves them over HTTP/1.1 until `stopped`, then
/// lets requests in flight finish.
async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
    header_timeout: std::time::Duration,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait, go on.
                    eprintln!("vego serve: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stopped => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(
            app.clone().map_request(|req: axum::http::Request<hyper::body::Incoming>| req.map(axum::body::Body::new)),
        );
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// What handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub db: Db,
    operations: Arc<AtomicU64>,
    pub api_key: Option<Arc<str>>,
    /// Writes that only write (upserts, deletes by id) share it; writes that
    /// read first (`updates.rs`) hold it alone, so no write of this server
    /// slips between their read and their write.
    pub write_gate: Arc<parking_lot::RwLock<()>>,
    /// Payload indexes declared per collection (`PUT …/index`): field → schema.
    pub payload_indexes: Arc<parking_lot::Mutex<HashMap<String, BTreeMap<String, Json>>>>,
    /// Request-body bytes that may be held in memory at once (KiB permits).
    pub body_budget: Arc<tokio::sync::Semaphore>,
    /// See [`ServerOptions::body_read_timeout`].
    pub body_read_timeout: std::time::Duration,
}

impl AppState {
    /// An existing collection (404 otherwise: Qdrant does not create on write).
    pub fn collection(&self, name: &str) -> Result<Collection, ApiError> {
        self.db.get_collection(name)?.ok_or_else(|| ApiError::collection_not_found(name))
    }

    /// The result of a completed write.
    pub fn update_result(&self) -> Json {
        let id = self.operations.fetch_add(1, Ordering::Relaxed);
        json!({ "operation_id": id, "status": "completed" })
    }
}

/// Runs an engine call on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("request handler failed: {e}"),
    })?
}

/// A JSON object body (an empty body is an empty object).
pub(crate) fn parse_body(body: &Bytes) -> Result<Map<String, Json>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(o)) => Ok(o),
        Ok(other) => Err(ApiError::bad_request(format!("Format error in JSON body: expected an object, got {other}"))),
        Err(e) => Err(ApiError::bad_request(format!("Format error in JSON body: {e}"))),
    }
}
