"""Stable-Baselines3's TD3 on segue's simulator, scored on the episodes `segue eval` scores.

Trains SB3's TD3 (its default MLP policy) for a few thousand steps in the simulator of the
training split of a `segue demo` run, its action a point of song space mapped to the nearest
track (`SessionEnv(action="embedding")`), then plays it on the held-out split's episodes of the
demo's evaluation seeds through `SessionVectorEnv`, whose `reset(seed=s)` starts the episodes
`segue eval --seeds s --episodes N` plays, with the same response draws. Its score is therefore
comparable, seed by seed, with the rows of the demo's `eval.json`, printed beside it.

    cargo run --release -- demo                # writes runs/demo
    pip install ./python stable-baselines3     # PyTorch comes with SB3
    python examples/python/sb3_td3.py runs/demo [--steps 5000] [--seed 1] [--threads 1]

SB3 sees the encoder's latent state only; segue's agents also read the last 5 tracks and
re-rank candidates with the simulator's skip model (docs/cli.md).
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import segue
import torch
from stable_baselines3 import TD3
from stable_baselines3.common.noise import NormalActionNoise

ROOT = Path(__file__).resolve().parents[2]

# Student's t 97.5% quantiles for 1-9 degrees of freedom, as segue's intervals use.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262]


def mean_ci(x):
    m = sum(x) / len(x)
    if len(x) < 2:
        return m, float("nan")
    sd = math.sqrt(sum((v - m) ** 2 for v in x) / (len(x) - 1))
    return m, T975[min(len(x) - 2, len(T975) - 1)] * sd / math.sqrt(len(x))


def seed_score(model, run, config, seed, episodes):
    """The policy's mean score on `segue eval`'s held-out episodes of one evaluation seed."""
    env = segue.SessionVectorEnv(run / "sample", run / "encoder", num_envs=episodes,
                                 action="embedding", config=config)
    obs, _ = env.reset(seed=seed)
    total = np.zeros(episodes)
    for _ in range(env.core.horizon):
        actions, _ = model.predict(obs, deterministic=True)
        obs, rewards, _, truncated, _ = env.step(actions)
        total += rewards
    assert truncated.all()
    return float(total.mean())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path, help="a `segue demo` (or `segue run`) folder")
    p.add_argument("--steps", type=int, default=5000, help="SB3 training steps")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1,
                   help="PyTorch's threads (more than the free cores slows it many times over)")
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "demo_world.toml",
                   help="the run config whose [simulator] table the run used")
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    report = json.loads((a.run / "eval.json").read_text())
    env = segue.SessionEnv(a.run / "sample", a.run / "encoder", split="train",
                           action="embedding", config=a.config, seed=a.seed)
    dim = env.action_space.shape[0]
    model = TD3("MlpPolicy", env, seed=a.seed, learning_starts=200, verbose=0,
                action_noise=NormalActionNoise(np.zeros(dim), 0.2 * np.ones(dim)))
    t = time.time()
    model.learn(total_timesteps=a.steps)
    train_s = time.time() - t

    per_seed = [seed_score(model, a.run, a.config, s, report["episodes"]) for s in report["seeds"]]
    mean, ci = mean_ci(per_seed)
    print(f"SB3 TD3, {a.steps} steps in the training simulator ({train_s:.1f} s), then "
          f"{len(per_seed)} seeds × {report['episodes']} held-out episodes, as `segue eval`:")
    print(f"  {'policy':<34} {'mean':>6} {'±95%':>6}")
    print(f"  {'sb3 td3 (nearest track)':<34} {mean:6.2f} {ci:6.2f}   per seed: "
          + ", ".join(f"{x:.2f}" for x in per_seed))
    for row in report["rows"]:
        print(f"  {row['policy']:<34} {row['mean']:6.2f} {row['ci95']:6.2f}")


if __name__ == "__main__":
    main()
