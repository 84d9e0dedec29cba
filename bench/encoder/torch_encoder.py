"""The history autoencoder of `segue bench encoder` (structure A) in PyTorch, timed the same way.

Same shapes and computation per update: an LSTM encoder over (song ‖ one-hot response) of each
step, tanh(dense) to the latent, a dense or repeat-vector LSTM decoder, a song head and a
response head; loss = song MSE + response cross-entropy; gradients clipped to global norm 1;
Adam. Windows are full length, so PyTorch's fused LSTM needs no mask (segue still applies its
per-step mask, as it does in training).

    python3 bench/encoder/torch_encoder.py --threads 1 --batch 256 --hidden 96 --latent 96 --decoder dense
"""

import argparse
import json
import time

import torch
from torch import nn


class Model(nn.Module):
    def __init__(self, dim, hidden, latent, steps, decoder):
        super().__init__()
        self.steps, self.hidden, self.decoder = steps, hidden, decoder
        self.enc = nn.LSTM(dim + 4, hidden, batch_first=True)
        self.to_latent = nn.Linear(hidden, latent)
        if decoder == "lstm":
            self.dec = nn.LSTM(latent, hidden, batch_first=True)
        else:
            self.dec1 = nn.Linear(latent, hidden)
            self.dec2 = nn.Linear(hidden, steps * hidden)
        self.out_song = nn.Linear(hidden, dim)
        self.out_response = nn.Linear(hidden, 4)

    def forward(self, x):  # x: [batch, steps, dim + 4]
        _, (h, _) = self.enc(x)
        z = torch.tanh(self.to_latent(h[-1]))  # [batch, latent]
        if self.decoder == "lstm":
            y, _ = self.dec(z.unsqueeze(1).expand(-1, self.steps, -1))
        else:
            y = torch.relu(self.dec2(torch.relu(self.dec1(z))))
            y = y.view(-1, self.steps, self.hidden)  # [batch, steps, hidden]
        return self.out_song(y), self.out_response(y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--dim", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=96)
    ap.add_argument("--latent", type=int, default=96)
    ap.add_argument("--decoder", choices=["lstm", "dense"], default="dense")
    ap.add_argument("--updates", type=int, default=200)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    m = Model(a.dim, a.hidden, a.latent, a.steps, a.decoder)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    batches = []
    for _ in range(8):
        song = torch.rand(a.batch, a.steps, a.dim)
        level = torch.randint(0, 4, (a.batch, a.steps))
        x = torch.cat([song, nn.functional.one_hot(level, 4).float()], dim=2)
        batches.append((x, song, level))
    fwd = bwd = upd = 0.0
    for it in range(a.updates + 5):
        x, song, level = batches[it % len(batches)]
        t0 = time.perf_counter()
        s_hat, logits = m(x)
        loss = ((s_hat - song) ** 2).mean() + nn.functional.cross_entropy(
            logits.reshape(-1, 4), level.reshape(-1)
        )
        loss.item()
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        t3 = time.perf_counter()
        if it >= 5:
            fwd += t1 - t0
            bwd += t2 - t1
            upd += t3 - t2
    total = fwd + bwd + upd
    row = {
        "impl": f"pytorch {torch.__version__}",
        "batch": a.batch,
        "steps": a.steps,
        "dim": a.dim,
        "hidden": a.hidden,
        "latent": a.latent,
        "decoder": a.decoder,
        "threads": a.threads,
        "sequences_per_s": a.updates * a.batch / total,
        "forward_ms": fwd / a.updates * 1e3,
        "backward_ms": bwd / a.updates * 1e3,
        "optimizer_ms": upd / a.updates * 1e3,
    }
    print(json.dumps(row))


if __name__ == "__main__":
    main()
