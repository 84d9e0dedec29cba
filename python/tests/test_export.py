"""Offline-RL data: `segue.export` and `segue export` write the logged transitions; they load
as numpy arrays whose episodes chain, and into d3rlpy where it is installed."""

import numpy as np
import pytest

import segue
from conftest import run


def test_export_writes_chained_episodes(world, tmp_path):
    out = tmp_path / "train.npz"
    r = segue.export(world.sample, world.encoder, out, splits=["train", "test"])
    d = np.load(out)
    n = r["transitions"]
    assert d["observations"].shape == (n, 16) and d["observations"].dtype == np.float32
    assert d["actions"].shape == (n, 30) and np.abs(d["actions"]).max() <= 1.0
    assert not d["terminals"].any()
    assert d["timeouts"].sum() == r["episodes"]
    assert d["timeouts"][-1]
    # The reward of each level under not_skipped: 1 for a play heard out, else 0.
    assert np.array_equal(d["rewards"], (d["levels"] == 3).astype(np.float32))
    assert set(np.unique(d["split"])) == {0, 2}
    # The CLI writes the same archive.
    cli = tmp_path / "cli.npz"
    run("export", "--sample", world.sample, "--encoder", world.encoder, "-o", cli,
        "--split", "train,test")
    assert cli.read_bytes() == out.read_bytes()
    with pytest.raises(ValueError, match="split"):
        segue.export(world.sample, world.encoder, out, splits=["everything"])


def test_the_export_loads_into_d3rlpy(world, tmp_path):
    d3rlpy = pytest.importorskip("d3rlpy", reason="d3rlpy (and torch) are not installed")
    out = tmp_path / "train.npz"
    segue.export(world.sample, world.encoder, out)
    d = np.load(out)
    ds = d3rlpy.dataset.MDPDataset(
        observations=d["observations"], actions=d["actions"], rewards=d["rewards"],
        terminals=d["terminals"], timeouts=d["timeouts"],
        action_space=d3rlpy.ActionSpace.CONTINUOUS, action_size=d["actions"].shape[1])
    episodes = int(d["timeouts"].sum())
    assert ds.size() == episodes
    # d3rlpy leaves out each timed-out episode's last step (no next observation is logged).
    assert ds.transition_count == len(d["rewards"]) - episodes
