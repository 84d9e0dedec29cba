//! Stage 1, data: session logs in the schema of Spotify's Music Streaming Sessions Dataset
//! (Brost et al., WWW'19) → validated sessions → an even sample across files → train /
//! validation / test splits, with the statistics of the reference study's sampling table.

pub mod cache;
pub mod csv;
pub mod error;
pub mod held_out;
pub mod ids;
pub mod ingest;
pub mod partial;
pub mod run;
pub mod sample;
pub mod schema;
pub mod stats;
pub mod tracks;

pub use error::DataError;
pub use held_out::{LogsCoverage, with_logs_held_out};
pub use run::{SampleConfig, SampleDir, SampleReport, load_sample_dir, run_sample, run_stats};
pub use sample::{Sample, Session, Split, SplitConfig, SplitRule};
pub use schema::{Flags, Row};
pub use stats::LogStats;
