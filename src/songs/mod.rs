//! Stage 2, song space: a vector for every track (official audio features, or embeddings learned
//! from the logs) and the nearest-track index that maps a point of song space back to real
//! tracks.

pub mod bench;
mod bytes;
pub mod dedup;
pub mod distance;
pub mod embed;
pub mod exact;
pub mod features;
pub mod hnsw;
pub mod index;
pub mod nearest;
pub mod saved_index;
pub mod space;
