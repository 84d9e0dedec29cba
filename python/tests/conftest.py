"""The fixture every test reads: a small synthetic world, its sample, an encoder and a short
agent run, made once per session through the `segue` binary (`SEGUE_BIN`, else the release
build of this checkout)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

AGENT = """[agent]
hidden = 32
batch = 64
buffer = 20000
envs = 16
rounds = 2
updates_per_step = 2
warmup = 100
candidates = 4
eval_every = 2
eval_episodes = 20

[simulator]
episodes = 20
"""


def segue_bin():
    b = Path(os.environ.get("SEGUE_BIN", ROOT / "target" / "release" / "segue"))
    if not b.is_file():
        pytest.fail(f"no segue binary at {b}: run `cargo build --release` or set SEGUE_BIN")
    return b


def run(*args):
    p = subprocess.run([str(segue_bin()), "--quiet", *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


class World:
    def __init__(self, d):
        self.dir = d
        self.world, self.sample, self.encoder = d / "w", d / "s", d / "enc"
        self.run = d / "agent"


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("segue")
    w = World(d)
    run("synth", "--sessions", 600, "--tracks", 400, "--files", 2, "--seed", 3,
        "--reference-users", 20, "--out", w.world)
    run("sample", "--logs", w.world, "--tracks", w.world, "--records", 1000000, "--seed", 1,
        "--out", w.sample)
    (d / "enc.toml").write_text("[encoder]\nhidden = 32\nlatent = 16\nmax_epochs = 2\n")
    run("encode", "--structure", "a", "--sample", w.sample, "-c", d / "enc.toml", "--out", w.encoder)
    (d / "agent.toml").write_text(AGENT)
    run("train", "--sample", w.sample, "--encoder", w.encoder, "-c", d / "agent.toml",
        "--algo", "td3", "--out", w.run)
    return w


def eval_report(w, *args):
    out = w.dir / f"eval-{abs(hash(args))}.json"
    run("eval", "--sample", w.sample, "--encoder", w.encoder, "-o", out, *args)
    return json.loads(out.read_text())
