//! Song space: learned embeddings on the real sample beat popularity at next-track retrieval;
//! official features on a synthetic world are scaled to [0, 1]; exact and HNSW agree.

mod common;
use common::*;

use segue::songs::index::{self, IndexKind, recall_at};
use segue::songs::space::{self, SongSource, SongsConfig, run_songs};

#[test]
fn learned_embeddings_beat_popularity_on_the_real_sample() {
    let dir = tempfile::tempdir().unwrap();
    let Some(s) = sample_real_rows(dir.path()) else {
        return;
    };
    let m = run_songs(
        &s,
        &SongsConfig::default(),
        &dir.path().join("songs"),
        false,
    )
    .unwrap();
    assert_eq!(m.source, SongSource::Learned);
    let r = &m.retrieval;
    assert!(r.transitions > 5_000);
    assert!(r.hit_at_10 > r.popularity_hit_at_10, "{r:?}");
    assert!(r.hit_at_100 > r.popularity_hit_at_100, "{r:?}");
    // The saved space loads back identically, and its vectors are unit length.
    let (m2, space) = space::load(&dir.path().join("songs")).unwrap();
    assert_eq!(m2, m);
    for t in 0..space.len() as u32 {
        if space.known[t as usize] {
            let n: f32 = space.vector(t).iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-4);
        }
    }
}

#[test]
fn official_features_are_scaled_and_hnsw_agrees_with_exact() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    let o = segue(&[
        "synth",
        "--sessions",
        "1500",
        "--tracks",
        "3000",
        "--files",
        "2",
        "--seed",
        "2",
        "--reference-users",
        "0",
        "--out",
        w.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = dir.path().join("s");
    let o = segue(&[
        "sample",
        "--logs",
        w.to_str().unwrap(),
        "--tracks",
        w.to_str().unwrap(),
        "--records",
        "1000000",
        "--out",
        s.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = run_songs(
        &s,
        &SongsConfig::default(),
        &dir.path().join("songs"),
        false,
    )
    .unwrap();
    assert_eq!(m.source, SongSource::Features);
    // 18 continuous features, key as two circular coordinates, mode, time signature, 8 acoustic.
    assert_eq!(m.dim, 30);
    assert_eq!(m.known, m.tracks);
    let (_, space) = space::load(&dir.path().join("songs")).unwrap();
    assert!(space.vectors.iter().all(|x| (0.0..=1.0).contains(x)));
    assert!(
        m.names.contains(&"key_cos".to_string())
            && m.names.contains(&"acoustic_vector_7".to_string())
    );

    // 1,000 seeded queries near real tracks: the approximate backend finds ≥ 95% of the exact top 10.
    let mut rng = segue::rng::Rng::new(42);
    let mut queries = Vec::new();
    for _ in 0..1_000 {
        let t = rng.below(space.len() as u64) as u32;
        queries.extend(
            space
                .vector(t)
                .iter()
                .map(|x| x + 0.05 * rng.normal() as f32),
        );
    }
    let exact = space.index(&IndexKind::Exact);
    let hnsw = space.index(&IndexKind::default());
    let truth = exact.search_batch(&queries, 10);
    let got = hnsw.search_batch(&queries, 10);
    let recall = recall_at(&truth, &got, 10);
    assert!(recall >= 0.95, "recall@10 {recall}");
    assert_eq!(
        index::build(&IndexKind::Exact, space.vectors.clone(), space.dim).len(),
        space.len()
    );
}
