//! Recommending from a trained run: `segue recommend` and `segue serve`.

use super::*;

#[derive(Args)]
pub(crate) struct RecommendArgs {
    /// A finished `segue train` run.
    #[arg(long)]
    pub(crate) run: PathBuf,
    /// The history: a JSON list of {track_id, response} or CSV rows in the log schema; - reads standard input.
    #[arg(long)]
    pub(crate) history: String,
    /// Tracks to return.
    #[arg(short, long, default_value_t = 10)]
    pub(crate) k: usize,
    /// Allow tracks of the history.
    #[arg(long)]
    pub(crate) include_played: bool,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// A finished `segue train` run.
    #[arg(long)]
    pub(crate) run: PathBuf,
    /// Address to listen on (port 0: any free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) addr: String,
    /// Largest k a request may ask for.
    #[arg(long, default_value_t = 100)]
    pub(crate) max_k: usize,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, default_value_t = 65536)]
    pub(crate) body_limit: usize,
    /// Track index of the action space: the run's (default), exact, or hnsw.
    #[arg(long)]
    pub(crate) index: Option<String>,
    /// With --index hnsw: candidates kept while searching (recall against speed; measured in
    /// bench/README.md).
    #[arg(long, default_value_t = 32)]
    pub(crate) ef_search: usize,
    /// Worker threads of the server.
    #[arg(long, default_value_t = 2)]
    pub(crate) workers: usize,
    /// Seconds a client has to send a request's headers (also closes idle kept-alive
    /// connections).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) header_timeout: f64,
    /// Seconds a client has to send a request's body once its headers are in (408 past it).
    #[arg(long, default_value_t = 30.0)]
    pub(crate) body_timeout: f64,
    /// Seconds without a byte moving either way after which a connection is closed.
    #[arg(long, default_value_t = 60.0)]
    pub(crate) idle_timeout: f64,
    /// Open connections at most (503 beyond).
    #[arg(long, default_value_t = 1024)]
    pub(crate) max_connections: usize,
    /// Seconds open requests may still finish after Ctrl-C before the server exits.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) shutdown_timeout: f64,
}

impl ServeArgs {
    fn limits(&self) -> Result<segue::serve::http::Limits> {
        let secs = |flag: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v < 1e6 {
                Ok(std::time::Duration::from_secs_f64(v))
            } else {
                anyhow::bail!("--{flag}: {v} is not a number of seconds above 0")
            }
        };
        anyhow::ensure!(
            self.max_connections > 0,
            "--max-connections must be at least 1"
        );
        Ok(segue::serve::http::Limits {
            body_limit: self.body_limit,
            header_timeout: secs("header-timeout", self.header_timeout)?,
            body_timeout: secs("body-timeout", self.body_timeout)?,
            idle_timeout: secs("idle-timeout", self.idle_timeout)?,
            max_connections: self.max_connections,
            shutdown_timeout: secs("shutdown-timeout", self.shutdown_timeout)?,
        })
    }
}

pub(crate) fn index_arg(
    s: Option<&str>,
    ef_search: usize,
) -> Result<Option<segue::songs::index::IndexKind>> {
    use segue::songs::index::IndexKind;
    Ok(match s {
        None => None,
        Some("exact") => Some(IndexKind::Exact),
        Some("hnsw") => Some(IndexKind::Hnsw(segue::songs::hnsw::HnswConfig {
            ef_search,
            ..Default::default()
        })),
        Some(o) => anyhow::bail!("--index: {o:?} is not exact or hnsw"),
    })
}

pub(crate) fn recommend_cmd(a: RecommendArgs) -> Result<()> {
    let text = if a.history == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("reading standard input")?;
        s
    } else {
        std::fs::read_to_string(&a.history).with_context(|| format!("reading {}", a.history))?
    };
    let source = if a.history == "-" {
        "standard input"
    } else {
        a.history.as_str()
    };
    let plays = segue::serve::read_history(&text, source).map_err(anyhow::Error::msg)?;
    set_threads(1);
    let rec = segue::serve::Recommender::load(&a.run, None, a.k.max(1))?;
    let recs = rec.recommend(&plays, a.k, a.include_played)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&recs)?);
        return Ok(());
    }
    println!(
        "{:>3}  {:<40} {:>8} {:>9}",
        "#", "track_id", "score", "distance"
    );
    for (i, r) in recs.iter().enumerate() {
        println!(
            "{:>3}  {:<40} {:>8.4} {:>9.4}",
            i + 1,
            r.track_id,
            r.score,
            r.distance
        );
    }
    Ok(())
}

pub(crate) fn serve_cmd(a: ServeArgs) -> Result<()> {
    let limits = a.limits()?;
    set_threads(1);
    let t = std::time::Instant::now();
    let rec = segue::serve::Recommender::load(
        &a.run,
        index_arg(a.index.as_deref(), a.ef_search)?,
        a.max_k,
    )?;
    tracing::info!(
        "loaded {} ({} tracks) in {:.1} s",
        a.run.display(),
        rec.catalogue(),
        t.elapsed().as_secs_f64()
    );
    segue::serve::http::serve(std::sync::Arc::new(rec), &a.addr, limits, a.workers)
        .with_context(|| format!("serving on {}", a.addr))
}
