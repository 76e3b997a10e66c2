//! `vego serve`: the Qdrant-compatible HTTP server over one database.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use vego::server::{Server, ServerOptions};
use vego::{Db, Options};

use crate::CliResult;

/// Arguments of `vego serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Database directory (created if missing).
    #[arg(long)]
    data: PathBuf,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:6333")]
    addr: SocketAddr,
    /// Require this key on every request (header `api-key` or `Authorization: Bearer`).
    #[arg(long, env = "VEGO_API_KEY")]
    api_key: Option<String>,
}

/// Serves until SIGINT / SIGTERM, then finishes requests, flushes and closes.
pub fn run(args: &Args) -> CliResult {
    let db = Db::open(&args.data, Options::default())?;
    let report = db.recovery();
    if report.replayed > 0 || report.torn_tail.is_some() {
        let torn = if report.torn_tail.is_some() { " (cut a torn tail)" } else { "" };
        eprintln!("vego serve: replayed {} WAL records{torn}", report.replayed);
    }
    let mut opts = ServerOptions::new(args.addr);
    if let Some(key) = &args.api_key {
        opts = opts.api_key(key.clone());
    }
    let server = Server::start(db, opts)?;
    // Scripts and tests wait for this line (the port when --addr asks for 0).
    println!("vego serve: listening on http://{}", server.addr());
    std::io::stdout().flush()?;
    server.run_until_signal()?;
    eprintln!("vego serve: stopped; database flushed and closed");
    Ok(())
}
