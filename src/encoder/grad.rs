//! The history autoencoder's training loss and its gradient on plain vectors
//! ([`crate::nn::backprop`]): the pass `segue encode` trains and validates with. It computes
//! what [`HistoryAutoencoder::loss`] computes on burn tensors; the tests hold its gradients to
//! burn's autodiff for both structures and both decoders.

use super::config::Structure;
use super::data::{LEVELS, Rows};
use super::model::{DecoderNet, HistoryAutoencoder, SongAutoencoder};
use crate::nn::backprop::{
    Grads, LstmTape, Plain, add, apply, back, in_parts, lstm_backward, lstm_forward, relu_backward,
    sigmoid_backward, sum_steps,
};
use crate::nn::infer::{relu, sigmoid, tanh};
use std::borrow::Cow;

/// A batch's loss, with what the backward pass needs.
pub struct Forward {
    pub loss: f64,
    tape: Tape,
    dsong: Vec<f32>,
    dlogits: Vec<f32>,
}

/// What the forward pass keeps for the backward pass.
struct Tape {
    /// The encoder LSTM's input `[steps * size, d_in]`.
    enc_in: Vec<f32>,
    /// Structure B: the song layers' hidden activations `[steps * size, song_hidden]`.
    song_hidden: Option<Vec<f32>>,
    enc: LstmTape,
    /// The latent layer's input `[size, ·]` and output `z` `[size, latent]`.
    lat_in: Vec<f32>,
    z: Vec<f32>,
    dec: DecTape,
    /// The decoder's features of every step, `[steps * size, hidden]`.
    hdec: Vec<f32>,
    /// Structure B's song head: σ(code) and the song decoder's hidden activations.
    head: Option<(Vec<f32>, Vec<f32>)>,
    song_out: Vec<f32>,
    logits: Vec<f32>,
}

enum DecTape {
    Lstm(LstmTape),
    /// The two dense layers' outputs `[size, hidden]` and `[size, steps * hidden]`.
    Dense(Vec<f32>, Vec<f32>),
}

impl SongAutoencoder {
    /// The reconstruction loss of song rows `x` `[n, dim]` (as [`loss`](Self::loss): the mean
    /// of the squared errors weighted by `scale`), with `grads` its gradient added there.
    pub fn loss_plain(
        &self,
        net: &Plain,
        x: &[f32],
        scale: &[f32],
        grads: Option<&mut Grads>,
    ) -> f64 {
        let dim = scale.len();
        let rows = x.len() / dim.max(1);
        let total = (rows * dim).max(1) as f64;
        let pass = |range: std::ops::Range<usize>, g: Option<&mut Grads>| -> f64 {
            let x = &x[range.start * dim..range.end * dim];
            let (a1, code) = self.encode_plain(net, x);
            let (a2, r) = self.decode_plain(net, &code);
            let mut sq = 0.0f64;
            let mut dr = vec![0.0f32; r.len()];
            let w = (2.0 / total) as f32;
            for (k, (&ri, &xi)) in r.iter().zip(x).enumerate() {
                let e = ri - xi;
                sq += (e * e * scale[k % dim]) as f64;
                dr[k] = w * e * scale[k % dim];
            }
            if let Some(g) = g {
                let mut dcode = self.decode_back((net, &mut *g), &code, &a2, &dr);
                self.encode_back((net, g), x, &a1, &code, &mut dcode);
            }
            sq / total
        };
        match grads {
            Some(g) => in_parts(net, g, rows, |range, gi| pass(range, Some(gi)))
                .iter()
                .sum(),
            None => pass(0..rows, None),
        }
    }

    /// The code σ(enc2(relu(enc1(x)))) of song rows `x`, after the hidden activations.
    fn encode_plain(&self, net: &Plain, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut hidden = apply(net, &self.enc1, x);
        relu(&mut hidden);
        let mut code = apply(net, &self.enc2, &hidden);
        sigmoid(&mut code);
        (hidden, code)
    }

    /// dec2(relu(dec1(c))) of codes `c`, after the hidden activations.
    fn decode_plain(&self, net: &Plain, c: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut hidden = apply(net, &self.dec1, c);
        relu(&mut hidden);
        let out = apply(net, &self.dec2, &hidden);
        (hidden, out)
    }

    /// The backward pass of [`decode_plain`](Self::decode_plain) at codes `c`: adds the
    /// decoder layers' gradients, returns the codes' gradient.
    fn decode_back(
        &self,
        (net, g): (&Plain, &mut Grads),
        c: &[f32],
        hidden: &[f32],
        dout: &[f32],
    ) -> Vec<f32> {
        let mut dh = back((net, Some(&mut *g)), &self.dec2, hidden, dout, true).expect("dx");
        relu_backward(&mut dh, hidden);
        back((net, Some(g)), &self.dec1, c, &dh, true).expect("dx")
    }

    /// The backward pass of [`encode_plain`](Self::encode_plain) at song rows `x` from the
    /// code's gradient `dcode`: adds the encoder layers' gradients.
    fn encode_back(
        &self,
        (net, g): (&Plain, &mut Grads),
        x: &[f32],
        hidden: &[f32],
        code: &[f32],
        dcode: &mut [f32],
    ) {
        sigmoid_backward(dcode, code);
        let mut dh = back((net, Some(&mut *g)), &self.enc2, hidden, dcode, true).expect("dx");
        relu_backward(&mut dh, hidden);
        back((net, Some(g)), &self.enc1, x, &dh, false);
    }
}

/// `x`, blocks `[outer][inner][width]`, regrouped `[inner][outer][width]` (the dense decoder's
/// batch-major steps to time-major rows, and back).
fn regroup(x: &[f32], outer: usize, inner: usize) -> Vec<f32> {
    let width = x.len() / (outer * inner).max(1);
    let mut out = vec![0.0f32; x.len()];
    for a in 0..outer {
        for b in 0..inner {
            let (src, dst) = ((a * inner + b) * width, (b * outer + a) * width);
            out[dst..dst + width].copy_from_slice(&x[src..src + width]);
        }
    }
    out
}

impl HistoryAutoencoder {
    /// The training loss of a batch (as [`loss`](Self::loss)), its gradient added to `g`
    /// (frozen parameters' left alone). A batch of more than
    /// [`PART`](crate::nn::backprop::PART) windows is split into
    /// parts of at most that many, computed on the pool's threads and summed in order.
    pub fn loss_grad(
        &self,
        net: &Plain,
        g: &mut Grads,
        b: &Rows,
        response_weight: f64,
        scale: &[f32],
    ) -> f64 {
        let n = b.valid.max(1) as f64;
        in_parts(net, g, b.size, |range, gi| {
            let part = if range.len() == b.size {
                Cow::Borrowed(b)
            } else {
                Cow::Owned(b.columns(range))
            };
            let f = self.forward_loss(net, &part, response_weight, scale, n);
            self.backward(net, gi, &part, &f);
            f.loss
        })
        .iter()
        .sum()
    }

    /// Adds the gradient of the loss of [`forward_loss`](Self::forward_loss) to `g`.
    pub fn backward(&self, net: &Plain, g: &mut Grads, b: &Rows, f: &Forward) {
        self.backward_plain((net, g), b, &f.tape, &f.dsong, &f.dlogits);
    }

    /// The forward pass and the loss of a batch, and the loss's gradient with respect to the
    /// outputs; the loss's sums are divided by `n` real steps (the whole batch's, for a part).
    pub fn forward_loss(
        &self,
        net: &Plain,
        b: &Rows,
        response_weight: f64,
        scale: &[f32],
        n: f64,
    ) -> Forward {
        let tape = self.forward_plain(net, b);
        let d = self.dim;
        let (mut sq, mut ce) = (0.0f64, 0.0f64);
        let mut dsong = vec![0.0f32; tape.song_out.len()];
        let mut dlogits = vec![0.0f32; tape.logits.len()];
        let song_w = (2.0 / (n * d as f64)) as f32;
        let resp_w = (response_weight / n) as f32;
        for row in 0..b.size * b.steps {
            if b.mask[row] == 0.0 {
                continue;
            }
            for c in row * d..(row + 1) * d {
                let e = tape.song_out[c] - b.song[c];
                sq += (e * e * scale[c - row * d]) as f64;
                dsong[c] = song_w * e * scale[c - row * d];
            }
            let l = &tape.logits[row * LEVELS..(row + 1) * LEVELS];
            let y = &b.onehot[row * LEVELS..(row + 1) * LEVELS];
            let top = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = l.iter().map(|&v| (v - top).exp()).sum();
            let lse = top + sum.ln();
            for k in 0..LEVELS {
                ce -= (y[k] * (l[k] - lse)) as f64;
                let p = (l[k] - lse).exp();
                dlogits[row * LEVELS + k] = resp_w * (p - y[k]);
            }
        }
        Forward {
            loss: sq / (n * d as f64) + response_weight * ce / n,
            tape,
            dsong,
            dlogits,
        }
    }

    fn forward_plain(&self, net: &Plain, b: &Rows) -> Tape {
        let (steps, size, hidden) = (b.steps, b.size, self.enc.hidden);
        let (enc_in, song_hidden) = match (self.structure, &self.song) {
            (Structure::B, Some(s)) => {
                let (a1, codes) = s.encode_plain(net, &b.song);
                (codes, Some(a1))
            }
            _ => {
                let mut x = Vec::with_capacity(b.song.len() + b.onehot.len());
                for (s, h) in b
                    .song
                    .chunks_exact(self.dim)
                    .zip(b.onehot.chunks_exact(LEVELS))
                {
                    x.extend_from_slice(s);
                    x.extend_from_slice(h);
                }
                (x, None)
            }
        };
        let xw = apply(net, &self.enc.input(), &enc_in);
        let wh = &net.values[self.enc.wh.0];
        let enc = lstm_forward(&xw, wh, (steps, size, hidden), false, Some(&b.mask));
        let lat_in = match self.structure {
            Structure::A => enc.last().to_vec(),
            Structure::B => {
                // The responses join after the recurrent part: [h | onehot_0 | … | onehot_{L−1}].
                let mut x = Vec::with_capacity(size * (hidden + steps * LEVELS));
                for j in 0..size {
                    x.extend_from_slice(&enc.last()[j * hidden..(j + 1) * hidden]);
                    for t in 0..steps {
                        let r = t * size + j;
                        x.extend_from_slice(&b.onehot[r * LEVELS..(r + 1) * LEVELS]);
                    }
                }
                x
            }
        };
        let mut z = apply(net, &self.to_latent, &lat_in);
        tanh(&mut z);
        let (dec, hdec) = self.decode_plain(net, &z, steps, size);
        let (head, song_out) = match &self.song {
            None => (None, apply(net, &self.out_song, &hdec)),
            Some(s) => {
                let mut s1 = apply(net, &self.out_song, &hdec);
                sigmoid(&mut s1);
                let (s2, out) = s.decode_plain(net, &s1);
                (Some((s1, s2)), out)
            }
        };
        let logits = apply(net, &self.out_response, &hdec);
        Tape {
            enc_in,
            song_hidden,
            enc,
            lat_in,
            z,
            dec,
            hdec,
            head,
            song_out,
            logits,
        }
    }

    /// The decoder body: its tape and every step's features `[steps * size, hidden]`.
    fn decode_plain(
        &self,
        net: &Plain,
        z: &[f32],
        steps: usize,
        size: usize,
    ) -> (DecTape, Vec<f32>) {
        match &self.dec {
            DecoderNet::Lstm(l) => {
                let xw = apply(net, &l.input(), z);
                let wh = &net.values[l.wh.0];
                let t = lstm_forward(&xw, wh, (steps, size, l.hidden), true, None);
                let h = t.outputs().to_vec();
                (DecTape::Lstm(t), h)
            }
            DecoderNet::Dense(d1, d2) => {
                let mut y1 = apply(net, d1, z);
                relu(&mut y1);
                let mut y2 = apply(net, d2, &y1);
                relu(&mut y2);
                // Batch-major columns to time-major rows: step t is columns t*H..(t+1)*H.
                let h = regroup(&y2, size, steps);
                (DecTape::Dense(y1, y2), h)
            }
        }
    }

    fn backward_plain(
        &self,
        (net, g): (&Plain, &mut Grads),
        b: &Rows,
        t: &Tape,
        dsong: &[f32],
        dlogits: &[f32],
    ) {
        let (steps, size, hidden) = (b.steps, b.size, self.enc.hidden);
        let mut dh = back(
            (net, Some(&mut *g)),
            &self.out_response,
            &t.hdec,
            dlogits,
            true,
        )
        .expect("dx");
        let dhead = match (&self.song, &t.head) {
            (Some(s), Some((s1, s2))) => {
                let mut ds1 = s.decode_back((net, &mut *g), s1, s2, dsong);
                sigmoid_backward(&mut ds1, s1);
                ds1
            }
            _ => dsong.to_vec(),
        };
        let d2 = back((net, Some(&mut *g)), &self.out_song, &t.hdec, &dhead, true).expect("dx");
        add(&mut dh, &d2);
        let mut dz = self.decode_backward((net, &mut *g), t, &dh, steps, size);
        for (d, &y) in dz.iter_mut().zip(&t.z) {
            *d *= 1.0 - y * y;
        }
        let dlat = back((net, Some(&mut *g)), &self.to_latent, &t.lat_in, &dz, true).expect("dx");
        let width = dlat.len() / size.max(1);
        let dlast: Vec<f32> = dlat
            .chunks_exact(width)
            .flat_map(|r| r[..hidden].iter().copied())
            .collect();
        let dg = self.lstm_back((net, &mut *g), &self.enc, &t.enc, None, Some(&dlast));
        let songs_train = self
            .song
            .as_ref()
            .is_some_and(|s| net.trainable[s.enc1.w.0]);
        let dx = back(
            (net, Some(&mut *g)),
            &self.enc.input(),
            &t.enc_in,
            &dg,
            songs_train,
        );
        if let (Some(mut dcodes), Some(s), Some(a1)) = (dx, &self.song, &t.song_hidden) {
            s.encode_back((net, g), &b.song, a1, &t.enc_in, &mut dcodes);
        }
    }

    /// The gradient of `z` from the decoder's features' gradient `dh` `[steps * size, hidden]`.
    fn decode_backward(
        &self,
        (net, g): (&Plain, &mut Grads),
        t: &Tape,
        dh: &[f32],
        steps: usize,
        size: usize,
    ) -> Vec<f32> {
        match (&self.dec, &t.dec) {
            (DecoderNet::Lstm(l), DecTape::Lstm(tape)) => {
                let dg = self.lstm_back((net, &mut *g), l, tape, Some(dh), None);
                back(
                    (net, Some(&mut *g)),
                    &l.input(),
                    &t.z,
                    &sum_steps(&dg, steps),
                    true,
                )
                .expect("dx")
            }
            (DecoderNet::Dense(d1, d2), DecTape::Dense(y1, y2)) => {
                let mut dy2 = regroup(dh, steps, size);
                relu_backward(&mut dy2, y2);
                let mut dy1 = back((net, Some(&mut *g)), d2, y1, &dy2, true).expect("dx");
                relu_backward(&mut dy1, y1);
                back((net, Some(&mut *g)), d1, &t.z, &dy1, true).expect("dx")
            }
            _ => unreachable!("the tape of the model's own decoder"),
        }
    }

    /// [`lstm_backward`] of layer `l`, its recurrent weights' gradient added where it trains.
    fn lstm_back(
        &self,
        (net, g): (&Plain, &mut Grads),
        l: &crate::nn::Lstm,
        tape: &LstmTape,
        dh_steps: Option<&[f32]>,
        dh_last: Option<&[f32]>,
    ) -> Vec<f32> {
        let dwh = net.trainable[l.wh.0].then(|| g.0[l.wh.0].as_mut_slice());
        lstm_backward(tape, &net.values[l.wh.0], dh_steps, dh_last, dwh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::config::{Decoder, EncoderConfig};
    use crate::encoder::data::{Histories, InputTransform, SongInputs};
    use crate::encoder::model::SONG_PREFIX;
    use crate::nn::backprop::PART;
    use crate::nn::{Params, to_vec};
    use crate::rng::Rng;
    use burn::tensor::{Device, Tensor, TensorData};

    /// Loss and every parameter's gradient against burn's autodiff: both structures, both
    /// decoders, song layers frozen and trained, windows with padding, feature weights.
    #[test]
    fn gradients_match_autodiff() {
        let dev = Device::flex();
        for structure in [Structure::A, Structure::B] {
            for decoder in [Decoder::Lstm, Decoder::Dense] {
                for frozen in [false, true] {
                    check(&dev, structure, decoder, frozen);
                }
            }
        }
    }

    /// A small model's config, `tracks` random songs of `dim` features, and no windows yet.
    fn small(
        (structure, decoder): (Structure, Decoder),
        dim: usize,
        tracks: usize,
        rng: &mut Rng,
    ) -> (EncoderConfig, SongInputs, Histories) {
        let cfg = EncoderConfig {
            structure,
            decoder,
            hidden: 8,
            latent: 6,
            song_code: 3,
            song_hidden: 5,
            ..Default::default()
        };
        let songs = SongInputs {
            dim,
            values: (0..tracks * dim).map(|_| rng.f64() as f32).collect(),
            transform: InputTransform::Identity,
            catalogue: None,
        };
        let h = Histories {
            steps: cfg.history,
            ..Default::default()
        };
        (cfg, songs, h)
    }

    fn check(dev: &Device, structure: Structure, decoder: Decoder, frozen: bool) {
        let mut rng = Rng::new(11);
        let dim = 7;
        let (cfg, songs, mut h) = small((structure, decoder), dim, 20, &mut rng);
        h.push(&[(1, 3), (2, 0)]);
        h.push(&[(3, 1), (4, 2), (5, 3), (6, 0), (7, 1), (8, 2)]);
        h.push(&[(9, 3)]);
        h.push(&[(10, 2), (11, 1), (12, 0), (13, 3)]);
        let idx = [0, 1, 2, 3];
        let mut p = Params::new(dev);
        let model = HistoryAutoencoder::new(&cfg, dim, &mut p);
        if frozen {
            p.set_trainable(SONG_PREFIX, false);
        }
        let scale: Vec<f32> = (0..dim).map(|_| 0.5 + rng.f64() as f32).collect();
        let what = format!("{structure:?} {decoder:?} frozen={frozen}");
        // burn.
        let leaves = p.leaves();
        let st = Tensor::<2>::from_data(TensorData::new(scale.clone(), [1, dim]), dev);
        let loss = model.loss(&leaves, &h.batch(&idx, &songs, dev), 0.7, &st);
        let want_loss = to_vec(&loss)[0] as f64;
        let mut grads = loss.backward();
        // By hand.
        let net = Plain::of(&p);
        let mut mine = net.zero_grads();
        let got_loss = model.loss_grad(&net, &mut mine, &h.rows(&idx, &songs), 0.7, &scale);
        assert!(
            (got_loss - want_loss).abs() < 1e-5,
            "{what}: loss {got_loss} vs {want_loss}"
        );
        for (i, got) in mine.0.iter().enumerate() {
            let name = &p.names[i];
            let g = if p.trainable[i] {
                leaves[i].grad_remove(&mut grads)
            } else {
                None
            };
            match g {
                Some(g) => {
                    for (k, (x, y)) in got.iter().zip(to_vec(&g)).enumerate() {
                        assert!(
                            (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                            "{what}: {name}[{k}] {x} vs {y}"
                        );
                    }
                }
                _ => assert!(
                    got.iter().all(|&x| x == 0.0),
                    "{what}: {name} is frozen or unused, yet has a gradient"
                ),
            }
        }
    }

    /// Structure B's song layers: loss and gradients against burn's autodiff, in parts.
    #[test]
    fn song_layer_gradients_match_autodiff() {
        let dev = Device::flex();
        let mut rng = Rng::new(13);
        let dim = 7;
        let (cfg, _, _) = small((Structure::B, Decoder::Dense), dim, 0, &mut rng);
        let mut p = Params::new(&dev);
        let model = HistoryAutoencoder::new(&cfg, dim, &mut p);
        p.trainable.fill(false);
        p.set_trainable(SONG_PREFIX, true);
        let song = model.song.expect("structure B");
        let rows = 300; // three parts
        let x: Vec<f32> = (0..rows * dim).map(|_| rng.f64() as f32).collect();
        let scale: Vec<f32> = (0..dim).map(|_| 0.5 + rng.f64() as f32).collect();
        let leaves = p.leaves();
        let t = |v: &[f32], r: usize| {
            Tensor::<2>::from_data(TensorData::new(v.to_vec(), [r, dim]), &dev)
        };
        let loss = song.loss(&leaves, t(&x, rows), &t(&scale, 1));
        let want = to_vec(&loss)[0] as f64;
        let mut grads = loss.backward();
        let net = Plain::of(&p);
        let mut g = net.zero_grads();
        let got = song.loss_plain(&net, &x, &scale, Some(&mut g));
        assert!((got - want).abs() < 1e-6, "loss {got} vs {want}");
        assert!((song.loss_plain(&net, &x, &scale, None) - got).abs() < 1e-9);
        for (i, mine) in g.0.iter().enumerate() {
            if !p.trainable[i] {
                assert!(mine.iter().all(|&v| v == 0.0), "{} is frozen", p.names[i]);
                continue;
            }
            let theirs = to_vec(&leaves[i].grad_remove(&mut grads).expect("a gradient"));
            for (a, b) in mine.iter().zip(&theirs) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{}: {a} vs {b}",
                    p.names[i]
                );
            }
        }
    }

    /// A batch split into parts: the same loss and gradients as in one piece (to rounding),
    /// and the same bits whatever the thread count.
    #[test]
    fn a_split_batch_gives_the_whole_batchs_gradient_on_any_thread_count() {
        for structure in [Structure::A, Structure::B] {
            for decoder in [Decoder::Lstm, Decoder::Dense] {
                split_check(structure, decoder);
            }
        }
    }

    fn split_check(structure: Structure, decoder: Decoder) {
        let dev = Device::flex();
        let mut rng = Rng::new(5);
        let dim = 4;
        let (cfg, songs, mut h) = small((structure, decoder), dim, 50, &mut rng);
        for _ in 0..150 {
            let len = 1 + rng.below(7) as usize;
            let w: Vec<(u32, u8)> = (0..len)
                .map(|_| (rng.below(50) as u32, rng.below(LEVELS as u64) as u8))
                .collect();
            h.push(&w);
        }
        let idx: Vec<usize> = (0..150).collect();
        let b = h.rows(&idx, &songs);
        let mut p = Params::new(&dev);
        let model = HistoryAutoencoder::new(&cfg, dim, &mut p);
        let net = Plain::of(&p);
        let ones = vec![1.0f32; dim];
        // In one piece, by hand.
        let f = model.forward_loss(&net, &b, 0.5, &ones, b.valid as f64);
        let mut whole = net.zero_grads();
        model.backward(&net, &mut whole, &b, &f);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut g = net.zero_grads();
                let loss = model.loss_grad(&net, &mut g, &b, 0.5, &ones);
                (loss, g.0)
            })
        };
        let (split, g1) = run(1);
        let what = format!("{structure:?} {decoder:?}");
        assert!(
            (f.loss - split).abs() < 1e-6,
            "{what}: loss {} vs {split}",
            f.loss
        );
        for (i, (a, c)) in whole.0.iter().zip(&g1).enumerate() {
            for (x, y) in a.iter().zip(c) {
                assert!(
                    (x - y).abs() <= 1e-5 * (1.0 + x.abs()),
                    "{}: {x} vs {y}",
                    p.names[i]
                );
            }
        }
        assert_eq!(
            b.size.div_ceil(PART),
            2,
            "two parts of at most {PART} windows"
        );
        assert_ne!(
            whole.0, g1,
            "{what}: the parts sum in another order than the whole"
        );
        for threads in [2, 3] {
            assert_eq!(
                run(threads),
                (split, g1.clone()),
                "{what}: {threads} threads"
            );
        }
    }
}
