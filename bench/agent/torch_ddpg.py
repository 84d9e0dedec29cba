#!/usr/bin/env python3
"""PyTorch (CPU) reference for the DDPG/TD3 update-step benchmark.

What it measures
  Throughput of complete off-policy update steps -- replay sampling (randint +
  gather from a preallocated 100k-transition buffer), TD target, critic
  forward/backward/Adam step, actor forward/backward/Adam step and Polyak soft
  update of the targets -- for MLP actor/critic nets (2 hidden layers of
  --hidden units, ReLU; tanh actor output; critic input = concat(s, a)).
  A TD3 "update" is one critic update (twin critics); the actor and the target
  nets are updated only every --policy-delay critic updates.

  1. --warmup updates (not timed), 2. as many updates as fit in --seconds ->
  updates/s, 3. a separate short pass (--breakdown-seconds) with
  time.perf_counter() around each phase -> fraction of time per phase.
  (The per-phase timers add a little overhead, so the breakdown pass is kept
  apart from the throughput measurement.)

How to run
  python3 bench/agent/torch_ddpg.py --algo ddpg --threads 1 --seconds 10
  python3 bench/agent/torch_ddpg.py --algo td3 --threads 2 --seconds 5 --json

Note: with --threads >= number of *free* cores (e.g. 2 threads on a 2-core box
where another process is busy), PyTorch's OpenMP workers spin-wait at barriers
and throughput can collapse by ~100x. OMP_WAIT_POLICY=PASSIVE in the
environment (must be set before torch is imported) avoids that; the script
itself leaves the runtime defaults alone.
"""
import argparse
import copy
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BUFFER_SIZE = 100_000
PHASES = ("sample", "target", "critic", "actor", "soft_update")


def mlp(inp, hidden, out):
    return nn.Sequential(
        nn.Linear(inp, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, out),
    )


class Actor(nn.Module):
    def __init__(self, state_dim, action_dim, hidden):
        super().__init__()
        self.net = mlp(state_dim, hidden, action_dim)

    def forward(self, s):
        return torch.tanh(self.net(s))


class Critic(nn.Module):
    def __init__(self, state_dim, action_dim, hidden):
        super().__init__()
        self.net = mlp(state_dim + action_dim, hidden, 1)

    def forward(self, s, a):
        return self.net(torch.cat([s, a], dim=1))


def make_target(net):
    tgt = copy.deepcopy(net)
    for p in tgt.parameters():
        p.requires_grad_(False)
    return tgt


class Replay:
    """Preallocated random buffer; done is all zeros (episode ends are truncations)."""

    def __init__(self, n, state_dim, action_dim):
        self.n = n
        self.s = torch.randn(n, state_dim)
        self.a = torch.rand(n, action_dim) * 2 - 1
        self.r = torch.randn(n, 1)
        self.s2 = torch.randn(n, state_dim)
        self.done = torch.zeros(n, 1)

    def sample(self, batch):
        idx = torch.randint(self.n, (batch,))
        return (self.s.index_select(0, idx), self.a.index_select(0, idx),
                self.r.index_select(0, idx), self.s2.index_select(0, idx),
                self.done.index_select(0, idx))


class Agent:
    def __init__(self, args):
        self.args = args
        self.td3 = args.algo == "td3"
        sd, ad, h = args.state_dim, args.action_dim, args.hidden
        self.actor = Actor(sd, ad, h)
        self.critics = [Critic(sd, ad, h) for _ in range(2 if self.td3 else 1)]
        self.actor_t = make_target(self.actor)
        self.critics_t = [make_target(c) for c in self.critics]
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=args.lr_actor)
        # TD3: one Adam over both critics' parameters.
        self.opt_critic = torch.optim.Adam(
            [p for c in self.critics for p in c.parameters()], lr=args.lr_critic)
        # Flat (target, online) parameter lists for the foreach soft update.
        self.tgt_params = list(self.actor_t.parameters()) + \
            [p for c in self.critics_t for p in c.parameters()]
        self.src_params = list(self.actor.parameters()) + \
            [p for c in self.critics for p in c.parameters()]
        self.critic_params = [p for c in self.critics for p in c.parameters()]
        self.it = 0

    # ---- phases -----------------------------------------------------------
    @torch.no_grad()
    def target(self, r, s2, done):
        a = self.args
        a2 = self.actor_t(s2)
        if self.td3:
            noise = (torch.randn_like(a2) * a.policy_noise).clamp(-a.noise_clip, a.noise_clip)
            a2 = (a2 + noise).clamp(-1.0, 1.0)
            q2 = torch.min(self.critics_t[0](s2, a2), self.critics_t[1](s2, a2))
        else:
            q2 = self.critics_t[0](s2, a2)
        return r + a.gamma * (1.0 - done) * q2

    def critic_step(self, s, act, y):
        loss = sum(F.mse_loss(c(s, act), y) for c in self.critics)
        self.opt_critic.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_critic.step()

    def actor_step(self, s):
        # Standard (Fujimoto TD3 / most DDPG code): critic weights are not
        # frozen, so this backward also fills (unused) critic grads; they are
        # cleared by the next critic zero_grad. --freeze-critic skips them.
        if self.args.freeze_critic:
            for p in self.critic_params:
                p.requires_grad_(False)
        loss = -self.critics[0](s, self.actor(s)).mean()
        self.opt_actor.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_actor.step()
        if self.args.freeze_critic:
            for p in self.critic_params:
                p.requires_grad_(True)

    @torch.no_grad()
    def soft_update(self):
        # Polyak averaging with torch._foreach_mul_ / torch._foreach_add_
        # (multi-tensor ops over all target params at once, no Python loop):
        # tgt = (1 - tau) * tgt + tau * src
        tau = self.args.tau
        torch._foreach_mul_(self.tgt_params, 1.0 - tau)
        torch._foreach_add_(self.tgt_params, self.src_params, alpha=tau)

    # ---- full update --------------------------------------------------------
    def update(self, replay, batch):
        """One update (TD3: one critic update, actor+targets every policy_delay)."""
        s, act, r, s2, done = replay.sample(batch)
        y = self.target(r, s2, done)
        self.critic_step(s, act, y)
        self.it += 1
        if not self.td3 or self.it % self.args.policy_delay == 0:
            self.actor_step(s)
            self.soft_update()

    def update_timed(self, replay, batch, acc):
        """Same as update(), with perf_counter around each phase (into acc)."""
        pc = time.perf_counter
        t0 = pc()
        s, act, r, s2, done = replay.sample(batch)
        t1 = pc()
        y = self.target(r, s2, done)
        t2 = pc()
        self.critic_step(s, act, y)
        t3 = pc()
        acc["sample"] += t1 - t0
        acc["target"] += t2 - t1
        acc["critic"] += t3 - t2
        self.it += 1
        if not self.td3 or self.it % self.args.policy_delay == 0:
            self.actor_step(s)
            t4 = pc()
            self.soft_update()
            t5 = pc()
            acc["actor"] += t4 - t3
            acc["soft_update"] += t5 - t4


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algo", choices=["ddpg", "td3"], default="ddpg")
    p.add_argument("--state-dim", type=int, default=96)
    p.add_argument("--action-dim", type=int, default=32)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--breakdown-seconds", type=float, default=2.0,
                   help="length of the separate per-phase timing pass")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--gamma", type=float, default=0.9)
    p.add_argument("--tau", type=float, default=0.005)
    p.add_argument("--lr-actor", type=float, default=1e-4)
    p.add_argument("--lr-critic", type=float, default=1e-3)
    p.add_argument("--policy-noise", type=float, default=0.2)
    p.add_argument("--noise-clip", type=float, default=0.5)
    p.add_argument("--policy-delay", type=int, default=2)
    p.add_argument("--freeze-critic", action="store_true",
                   help="don't compute critic weight grads in the actor step")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)

    replay = Replay(BUFFER_SIZE, args.state_dim, args.action_dim)
    agent = Agent(args)

    for _ in range(args.warmup):
        agent.update(replay, args.batch)

    # Throughput pass.
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + args.seconds
    while True:
        agent.update(replay, args.batch)
        n += 1
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - t0
    ups = n / elapsed

    # Separate breakdown pass.
    acc = dict.fromkeys(PHASES, 0.0)
    m = 0
    t0 = time.perf_counter()
    deadline = t0 + args.breakdown_seconds
    while True:
        agent.update_timed(replay, args.batch, acc)
        m += 1
        if time.perf_counter() >= deadline:
            break
    total = sum(acc.values())
    breakdown = {k: round(v / total, 4) for k, v in acc.items()}

    if args.json:
        print(json.dumps({
            "impl": "pytorch", "algo": args.algo, "threads": args.threads,
            "batch": args.batch, "hidden": args.hidden,
            "state_dim": args.state_dim, "action_dim": args.action_dim,
            "updates_per_s": round(ups, 2), "breakdown": breakdown,
            "torch": torch.__version__, "updates": n, "seconds": round(elapsed, 3),
        }))
    else:
        print(f"pytorch {torch.__version__}  algo={args.algo}  threads={args.threads}  "
              f"batch={args.batch}  hidden={args.hidden}  "
              f"state={args.state_dim}  action={args.action_dim}")
        print(f"updates/s: {ups:.1f}  ({n} updates in {elapsed:.2f} s, "
              f"{1e3 / ups:.3f} ms/update)")
        print(f"breakdown ({m} updates, {total:.2f} s timed):")
        for k in PHASES:
            print(f"  {k:<12} {100 * breakdown[k]:6.1f} %   "
                  f"{1e3 * acc[k] / m:.3f} ms/update")


if __name__ == "__main__":
    main()
