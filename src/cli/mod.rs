//! The command groups of the `segue` binary, one module each; `main.rs` parses and
//! dispatches. The imports here are shared by every group.

pub(crate) use std::path::PathBuf;

pub(crate) use anyhow::{Context, Result};
pub(crate) use clap::{Args, Subcommand};
pub(crate) use segue::data::{self, SampleConfig, run::is_sample_dir, stats};
pub(crate) use segue::pipeline::RunConfig;

/// The one way a flag overrides its config field: each named flag that was given (`Some`) sets
/// the field of the same name, or the path after `=>`.
/// `set_given!(cfg, args; seed, epochs => max_epochs, dim => embedding.dim)`.
macro_rules! set_given {
    ($cfg:ident, $args:ident;) => {};
    ($cfg:ident, $args:ident; $flag:ident => $($field:ident).+ $(, $($rest:tt)*)?) => {
        if let Some(v) = $args.$flag {
            $cfg.$($field).+ = v;
        }
        set_given!($cfg, $args; $($($rest)*)?);
    };
    ($cfg:ident, $args:ident; $flag:ident $(, $($rest:tt)*)?) => {
        if let Some(v) = $args.$flag {
            $cfg.$flag = v;
        }
        set_given!($cfg, $args; $($($rest)*)?);
    };
}

pub(crate) mod bench;
pub(crate) mod logs;
pub(crate) mod pipeline;
pub(crate) mod serving;
pub(crate) mod stages;

pub(crate) use bench::*;
pub(crate) use logs::*;
pub(crate) use pipeline::*;
pub(crate) use serving::*;
pub(crate) use stages::*;

/// Sizes the thread pool of the tensor kernels (once per process; 0 = every core).
pub(crate) fn set_threads(n: usize) {
    if n > 0 {
        // An error means the pool already exists (a second call): keep it.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
}

/// The run config at `path` (every command reads the one [`RunConfig`] type and takes its
/// tables), or the defaults without one.
pub(crate) fn read_config(path: Option<&PathBuf>) -> Result<RunConfig> {
    match path {
        Some(p) => Ok(segue::config::load(p)?),
        None => Ok(RunConfig::default()),
    }
}
