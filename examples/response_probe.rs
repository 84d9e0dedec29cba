//! How well a learned response model predicts held-out plays, with and without the recent
//! plays beside the encoded state: the greedy baseline's skip classifier (an MLP, hidden 64)
//! trained on the training split's transitions, its inputs the encoder's latent, then for each
//! of the last N plays the coordinate-by-coordinate squared differences between the track's
//! song vector and that play's, its level / 3 and a present flag, and the track's song vector.
//! A probe of what a simulator that reads the recent plays could gain (README, `segue
//! simulate`).
//!
//! `cargo run --release --example response_probe -- SAMPLE_DIR ENCODER_DIR N EPOCHS`
use segue::data::Split;
use segue::simulator::memory::{encode_transitions, histories, recent_features, transitions};
use std::path::Path;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 5 {
        eprintln!("usage: response_probe SAMPLE_DIR ENCODER_DIR RECENT_PLAYS EPOCHS");
        std::process::exit(2);
    }
    let s = segue::data::load_sample_dir(Path::new(&a[1]))
        .unwrap()
        .sample;
    let enc = segue::encoder::Encoder::load(Path::new(&a[2])).unwrap();
    let n_recent: usize = a[3].parse().unwrap();
    let epochs: usize = a[4].parse().unwrap();
    let d = enc.songs.dim;
    let feats = |split| {
        let tr = transitions(&s, split, enc.model.steps);
        let (st, ac) = encode_transitions(&enc, &tr);
        let l = enc.model.latent;
        let w = l + n_recent * (d + 2);
        let recent = recent_features(n_recent, &enc.songs, &histories(&tr), &ac);
        let r = n_recent * (d + 2);
        let mut x = Vec::with_capacity(tr.len() * w);
        for i in 0..tr.len() {
            x.extend_from_slice(&st[i * l..(i + 1) * l]);
            x.extend_from_slice(&recent[i * r..(i + 1) * r]);
        }
        let y: Vec<bool> = tr.iter().map(|t| t.level == 3).collect();
        (x, w, ac, y)
    };
    let (x, w, ac, y) = feats(Split::Train);
    let clf = segue::simulator::classifier::SkipClassifier::train(&x, w, &ac, d, &y, 64, epochs, 1);
    let (xt, _, act, yt) = feats(Split::Test);
    let p = clf.predict(&xt, &act);
    let base = y.iter().filter(|&&v| v).count() as f64 / y.len() as f64;
    let f = segue::simulator::fidelity::fidelity(&p, &vec![true; p.len()], &yt, base);
    println!("recent {n_recent} epochs {epochs}: {}", f.summary());
}
