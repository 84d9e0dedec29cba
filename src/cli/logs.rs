//! Logs and samples: `segue sample` (and its distributed plan, map and merge), `segue stats`, `segue synth`.

use super::*;

#[derive(Args)]
pub(crate) struct SynthArgs {
    /// Sessions to generate.
    #[arg(long)]
    pub(crate) sessions: Option<usize>,
    /// Tracks in the catalogue.
    #[arg(long)]
    pub(crate) tracks: Option<usize>,
    /// Log files (one day each).
    #[arg(long)]
    pub(crate) files: Option<usize>,
    /// Master seed.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    /// Write .csv.gz files.
    #[arg(long)]
    pub(crate) gzip: bool,
    /// Users scored by the reference policies (0 skips the table).
    #[arg(long)]
    pub(crate) reference_users: Option<usize>,
    /// Files generated at once (0: one per core).
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// A ready-made world: sets its keys of [synth.world.user] over the config's.
    #[arg(long, value_enum)]
    pub(crate) preset: Option<segue::synth::world::Preset>,
}

/// Where a command writes and how it reads its run config.
#[derive(Args)]
pub(crate) struct OutputArgs {
    /// Output folder (written whole or not at all).
    #[arg(short, long)]
    pub(crate) out: PathBuf,
    /// Replace the output folder if it exists.
    #[arg(long)]
    pub(crate) force: bool,
    /// A TOML run config; the command reads its own table ([sample], [synth], [songs]) and flags
    /// override it.
    #[arg(short, long)]
    pub(crate) config: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The sampling flags that `segue sample` and `segue sample-merge` share; each overrides the
/// config's [sample] table.
#[derive(Args)]
pub(crate) struct SampleFlags {
    /// Track-feature files (tf_*.csv) or folders; the sampled tracks' features are kept.
    #[arg(long, num_args = 1..)]
    pub(crate) tracks: Vec<PathBuf>,
    /// Target number of records (shared evenly between the files).
    #[arg(long)]
    pub(crate) records: Option<u64>,
    /// Master seed.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Split fractions train,validation,test (by session).
    #[arg(long, value_parser = parse_split)]
    pub(crate) split: Option<data::SplitConfig>,
    /// Skip and count unparsable rows instead of stopping at the first.
    #[arg(long)]
    pub(crate) skip_bad_rows: bool,
}

impl SampleFlags {
    fn apply(self, cfg: &mut SampleConfig) {
        if !self.tracks.is_empty() {
            cfg.tracks = self.tracks;
        }
        set_given!(cfg, self; records, seed, split);
        cfg.skip_bad_rows |= self.skip_bad_rows;
    }
}

#[derive(Args)]
pub(crate) struct SampleArgs {
    /// Session-log files (.csv, .csv.gz) or folders holding them.
    #[arg(long, num_args = 1.., required_unless_present = "config")]
    pub(crate) logs: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) flags: SampleFlags,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    /// Files read at once (0: one per core).
    #[arg(long)]
    pub(crate) threads: Option<usize>,
}

#[derive(Args)]
pub(crate) struct SamplePlanArgs {
    /// Session-log files (.csv, .csv.gz) or folders holding them.
    #[arg(long, num_args = 1.., conflicts_with = "names_from")]
    pub(crate) logs: Vec<PathBuf>,
    /// Read the file names from this file (one per line; - is standard input) instead of
    /// searching --logs: names of files on storage that only the engine reads (hdfs://, s3a://).
    #[arg(long)]
    pub(crate) names_from: Option<PathBuf>,
    /// Target number of records (shared evenly between the files).
    #[arg(long)]
    pub(crate) records: Option<u64>,
    /// Master seed.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Skip and count unparsable rows instead of stopping at the first.
    #[arg(long)]
    pub(crate) skip_bad_rows: bool,
    /// A TOML run config; its [sample] table is read and flags override it.
    #[arg(short, long)]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct SampleMapArgs {
    /// The log file; - reads it from standard input (then --name is required).
    #[arg(long)]
    pub(crate) input: PathBuf,
    /// The file's name in the plan (default: --input).
    #[arg(long)]
    pub(crate) name: Option<PathBuf>,
    /// The file's index in the plan.
    #[arg(long)]
    pub(crate) index: u64,
    /// Files in the plan.
    #[arg(long)]
    pub(crate) files: u64,
    /// The sample's target record count.
    #[arg(long)]
    pub(crate) records: u64,
    /// Master seed.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Skip and count unparsable rows instead of stopping at the first.
    #[arg(long)]
    pub(crate) skip_bad_rows: bool,
    /// Where the partial goes; - is standard output.
    #[arg(short, long, default_value = "-")]
    pub(crate) out: PathBuf,
}

#[derive(Args)]
pub(crate) struct SampleMergeArgs {
    /// Partials (*.part) written by `segue sample-map`, or folders holding them.
    #[arg(long, num_args = 1.., required = true)]
    pub(crate) partials: Vec<PathBuf>,
    /// The inputs as the user named them, recorded in the manifest (default: the partials' files).
    #[arg(long, num_args = 1..)]
    pub(crate) logs: Vec<PathBuf>,
    // The plan's --records, --seed and --skip-bad-rows are given again.
    #[command(flatten)]
    pub(crate) flags: SampleFlags,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

#[derive(Args)]
pub(crate) struct StatsArgs {
    /// Log files, folders of logs, or a sample folder written by `segue sample`.
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
    /// Skip and count unparsable rows instead of stopping at the first.
    #[arg(long)]
    pub(crate) skip_bad_rows: bool,
    /// Files read at once (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn parse_split(s: &str) -> Result<data::SplitConfig, String> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let [train, validation, test] = parts[..] else {
        return Err("expected three fractions: train,validation,test".into());
    };
    let cfg = data::SplitConfig {
        train,
        validation,
        test,
    };
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

pub(crate) fn synth(args: SynthArgs, progress: bool) -> Result<()> {
    let mut cfg = read_config(args.output.config.as_ref())?.synth;
    set_given!(cfg, args; sessions, tracks, files, seed, reference_users, threads);
    cfg.gzip |= args.gzip;
    if let Some(p) = args.preset {
        p.apply(&mut cfg.world.user);
    }
    let run = segue::synth::run_synth(&cfg, &args.output.out, args.output.force, progress)?;
    let r = &run.report;
    if args.output.json {
        let v = serde_json::json!({ "report": r, "seconds": run.seconds });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{} sessions, {} records, {} tracks in {} log and {} track-feature files: {} of CSV ({} on disk) in {:.2} s, {:.0} MB/s",
        stats::thousands(r.sessions),
        stats::thousands(r.records),
        stats::thousands(cfg.tracks as u64),
        r.log_files.len(),
        r.track_files.len(),
        stats::human_bytes(r.bytes_text),
        stats::human_bytes(r.bytes_on_disk),
        run.seconds,
        r.bytes_text as f64 / 1e6 / run.seconds.max(1e-9)
    );
    println!(
        "responses: skip_1 {:.4}  skip_2 {:.4}  skip_3 {:.4}  not_skipped {:.4}",
        r.rates[0], r.rates[1], r.rates[2], r.rates[3]
    );
    if let Some(t) = &r.reference {
        println!(
            "\nexpected not-skipped tracks out of {} under the true model, {} users (mean ± 95% CI):",
            t.horizon, t.users
        );
        for row in &t.rows {
            println!("  {:<20} {:>6.2} ± {:.2}", row.policy, row.mean, row.ci95);
        }
    }
    println!("wrote {}", args.output.out.display());
    Ok(())
}

pub(crate) fn sample(args: SampleArgs, progress: bool) -> Result<()> {
    let mut cfg = read_config(args.output.config.as_ref())?.sample;
    if !args.logs.is_empty() {
        cfg.logs = args.logs;
    }
    set_given!(cfg, args; threads);
    args.flags.apply(&mut cfg);
    let report = data::run_sample(&cfg, &args.output.out, args.output.force, progress)?;
    print_sample_report(&report, &cfg, &args.output)
}

pub(crate) fn print_sample_report(
    report: &data::SampleReport,
    cfg: &SampleConfig,
    output: &OutputArgs,
) -> Result<()> {
    if output.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print!(
        "{}",
        stats::table(&[("all input", &report.input), ("sample", &report.sample)])
    );
    let spread = report.files.iter().map(|f| f.sampled_records);
    if let (Some(lo), Some(hi)) = (spread.clone().min(), spread.max()) {
        println!(
            "\n{} files, records per file {}..{} (target {} each)",
            report.files.len(),
            stats::thousands(lo),
            stats::thousands(hi),
            stats::thousands(cfg.records / report.files.len().max(1) as u64)
        );
    }
    let splits: Vec<String> = report
        .splits
        .iter()
        .map(|(s, c)| {
            format!(
                "{} {} sessions / {} records",
                s.name(),
                stats::thousands(c.sessions),
                stats::thousands(c.records)
            )
        })
        .collect();
    println!("split ({:?}): {}", report.split_rule, splits.join(", "));
    if let Some(tf) = &report.track_features {
        println!(
            "track features: {} of {} sampled tracks found ({} missing)",
            stats::thousands(tf.kept),
            stats::thousands(tf.kept + tf.missing),
            stats::thousands(tf.missing)
        );
    }
    let incomplete: u64 = report.input.incomplete_sessions.values().sum();
    let bad: u64 = report.input.bad_rows.values().sum();
    if incomplete > 0 || bad > 0 {
        println!(
            "left out: {} incomplete sessions ({} records), {} bad rows (see stats.json)",
            stats::thousands(incomplete),
            stats::thousands(report.input.incomplete_records),
            stats::thousands(bad)
        );
    }
    println!("wrote {}", output.out.display());
    Ok(())
}

pub(crate) fn sample_plan(args: SamplePlanArgs) -> Result<()> {
    let mut cfg = read_config(args.config.as_ref())?.sample;
    set_given!(cfg, args; records, seed);
    cfg.skip_bad_rows |= args.skip_bad_rows;
    let files = match &args.names_from {
        Some(p) => {
            let text = if p.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
            };
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(PathBuf::from)
                .collect()
        }
        None => {
            if !args.logs.is_empty() {
                cfg.logs = args.logs;
            }
            if cfg.logs.is_empty() {
                anyhow::bail!("give the log files: --logs or --names-from");
            }
            data::run::discover(&cfg.logs, data::run::InputKind::Logs)?
        }
    };
    let plan = data::run::plan(files, cfg.records, cfg.seed, cfg.skip_bad_rows)?;
    println!("{}", serde_json::to_string_pretty(&plan)?);
    Ok(())
}

pub(crate) fn sample_map(args: SampleMapArgs) -> Result<()> {
    use std::io::{IsTerminal, Write};
    let from_stdin = args.input.as_os_str() == "-";
    let source = if from_stdin {
        let Some(name) = args.name else {
            anyhow::bail!("--input - needs --name: the file's name in the plan");
        };
        data::csv::Source::Stream {
            name,
            reader: Box::new(std::io::stdin()),
        }
    } else {
        match args.name {
            Some(name) => data::csv::Source::Stream {
                reader: Box::new(
                    std::fs::File::open(&args.input)
                        .with_context(|| format!("opening {}", args.input.display()))?,
                ),
                name,
            },
            None => data::csv::Source::File(args.input.clone()),
        }
    };
    let to_stdout = args.out.as_os_str() == "-";
    if to_stdout && std::io::stdout().is_terminal() {
        anyhow::bail!("a partial is binary: give --out FILE or redirect standard output");
    }
    let bytes = data::run::map_file(
        source,
        args.records,
        args.files,
        args.index,
        args.seed,
        args.skip_bad_rows,
    )?;
    if to_stdout {
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)
            .and_then(|()| out.flush())
            .context("writing the partial to standard output")?;
    } else {
        segue::output::write_atomic(&args.out, &bytes)
            .with_context(|| format!("writing {}", args.out.display()))?;
    }
    Ok(())
}

pub(crate) fn sample_merge(args: SampleMergeArgs, progress: bool) -> Result<()> {
    let mut cfg = read_config(args.output.config.as_ref())?.sample;
    // The merge reads no logs: without --logs, the manifest records the partials' files.
    cfg.logs = args.logs;
    args.flags.apply(&mut cfg);
    let report = data::run::run_sample_merge(
        &cfg,
        &args.partials,
        &args.output.out,
        args.output.force,
        progress,
    )?;
    print_sample_report(&report, &cfg, &args.output)
}

pub(crate) fn stats_cmd(args: StatsArgs, progress: bool) -> Result<()> {
    if let [dir] = &args.inputs[..]
        && is_sample_dir(dir)
    {
        let loaded = data::load_sample_dir(dir)?;
        let mut s = loaded.sample.stats();
        s.bytes_on_disk = loaded.report.sample.bytes_on_disk;
        s.bytes_uncompressed = loaded.report.sample.bytes_uncompressed;
        s.files = 1;
        let splits = data::run::split_counts(&loaded.sample);
        if args.json {
            let v = serde_json::json!({ "stats": s, "splits": splits, "split_rule": loaded.manifest.split_rule });
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            print!("{}", stats::report("sample", &s));
            println!("\nsplits ({:?})", loaded.manifest.split_rule);
            for (k, c) in splits {
                println!(
                    "  {:<10} {:>10} sessions {:>12} records",
                    k.name(),
                    stats::thousands(c.sessions),
                    stats::thousands(c.records)
                );
            }
        }
        return Ok(());
    }
    let s = data::run_stats(&args.inputs, args.skip_bad_rows, args.threads, progress)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", stats::report("all input", &s));
    }
    Ok(())
}
