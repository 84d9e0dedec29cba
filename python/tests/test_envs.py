"""segue's Gymnasium environments: conformance, determinism, the evaluator's numbers from a
Python loop, trained agents, and errors as Python exceptions."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import segue
from conftest import eval_report


def session_env(w, **kw):
    return segue.SessionEnv(w.sample, w.encoder, **kw)


def test_both_environments_pass_gymnasiums_checker(world):
    check_env(session_env(world))
    check_env(session_env(world, action="track"))
    check_env(segue.WorldEnv(world.world, world.sample, world.encoder))


def play(env, seed, actions):
    obs, info = env.reset(seed=seed)
    out = [(obs, info)]
    for a in actions:
        out.append(env.step(a))
    return out


def same(a, b):
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def test_the_same_seed_gives_the_same_trajectory(world):
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(15, 30)).astype(np.float32)
    runs = [play(session_env(world), 11, actions) for _ in range(2)]
    assert same(runs[0], runs[1])
    other = play(session_env(world), 12, actions)
    assert not same(runs[0], other)
    # The episode is truncated at the horizon, never terminated.
    *_, (obs, reward, terminated, truncated, info) = runs[0]
    assert (terminated, truncated) == (False, True)
    assert all(not step[3] for step in runs[0][1:-1])
    world_runs = [play(segue.WorldEnv(world.world, world.sample, world.encoder), 4, actions)
                  for _ in range(2)]
    assert same(world_runs[0], world_runs[1])
    assert world_runs[0][0][1]["planner"] >= world_runs[0][0][1]["greedy_oracle"] - 1e-9


def played_mean(env, act, episodes, seed):
    """Resets `env` under `seed`, plays `act()` for 15 steps; returns the episodes' mean score,
    summed in the evaluator's order, and the last step's truncation flags."""
    env.reset(seed=seed)
    scores = [0.0] * episodes
    for _ in range(15):
        _, rewards, _, truncated, _ = env.step(act())
        scores = [s + r for s, r in zip(scores, rewards)]
    return sum(scores) / episodes, truncated


def test_a_seeded_random_policy_in_python_gives_segue_evals_random_row(world):
    episodes, seed = 25, 3
    row = next(r for r in eval_report(world, "--seeds", seed, "--episodes", episodes,
                                      "--policies", "random")["rows"] if r["policy"] == "random")
    env = segue.SessionVectorEnv(world.sample, world.encoder, num_envs=episodes, action="track")
    policy = segue.random_policy(env, seed)
    mean, truncated = played_mean(env, lambda: policy.act(env.core), episodes, seed)
    assert truncated.all()
    # Summed in the evaluator's order: the same value to the bit.
    assert mean == row["mean"]


def test_a_world_env_pays_what_segue_eval_scores_under_the_true_model(world):
    episodes, seed = 25, 3
    report = eval_report(world, "--seeds", seed, "--episodes", episodes, "--policies", "random",
                         "--world", world.world)
    row = next(r for r in report["rows"] if r["policy"] == "random")
    env = segue.SessionVectorEnv(world.sample, world.encoder, num_envs=episodes, action="track",
                                 world_dir=world.world)
    policy = segue.random_policy(env, seed)
    mean, _ = played_mean(env, lambda: policy.act(env.core), episodes, seed)
    # Each step pays its exact expectation, as the true-model column sums it.
    assert mean == row["true_mean"]


def test_a_configs_simulator_table_holds_unless_overridden(world, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text("[simulator]\nhorizon = 4\nreward = \"graded\"\n")
    assert session_env(world, config=cfg).core.horizon == 4
    assert session_env(world, config=cfg, horizon=7).core.horizon == 7


def test_the_vector_env_batches_and_restarts(world):
    env = segue.SessionVectorEnv(world.sample, world.encoder, num_envs=8, horizon=3)
    obs, info = env.reset(seed=1)
    assert obs.shape == (8, 16) and obs.dtype == np.float32
    assert env.observation_space.contains(obs)
    for t in range(3):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        assert r.shape == (8,) and not term.any() and trunc.all() == (t == 2)
    # The step after the end starts new episodes (NEXT_STEP autoreset).
    obs, r, term, trunc, info = env.step(env.action_space.sample())
    assert not trunc.any() and (r == 0).all() and "session" in info


def test_a_trained_agent_acts_as_segue_eval_scores_it(world):
    agent = segue.load_run(world.run)
    episodes, seed = 20, 2
    report = eval_report(world, "--runs", world.run, "--seeds", seed, "--episodes", episodes,
                         "--no-baselines", "--policies", agent.name)
    row = next(r for r in report["rows"] if r["policy"] == agent.name)
    env = segue.SessionVectorEnv(world.sample, world.encoder, num_envs=episodes, action="track")
    mean, _ = played_mean(env, lambda: agent.act(env), episodes, seed)
    assert mean == row["mean"]


def test_candidates_are_re_ranked_by_the_callers_scorer(world):
    # A scorer that prefers the candidate furthest from the proto-action picks a track the
    # nearest-track mapping never picks.
    proto = np.full(30, 0.3, dtype=np.float32)
    far = lambda obs, cands: ((cands - proto) ** 2).sum(axis=1)
    near_env = session_env(world)
    far_env = session_env(world, candidates=8, scorer=far)
    near_env.reset(seed=1)
    far_env.reset(seed=1)
    a = near_env.step(proto)[4]["track"]
    b = far_env.step(proto)[4]["track"]
    assert a != b


def test_bad_input_raises_python_exceptions_with_segues_message(world, tmp_path):
    with pytest.raises(segue.SegueError, match="sample.json"):
        segue.SessionEnv(tmp_path / "missing", world.encoder)
    with pytest.raises(ValueError, match="split \"tests\""):
        session_env(world, split="tests")
    with pytest.raises(ValueError, match="reward"):
        session_env(world, reward="loud")
    env = session_env(world, action="track")
    with pytest.raises(segue.SegueError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside the catalogue"):
        env.step(10**6)
    with pytest.raises(ValueError, match="outside the catalogue"):
        env.step(-1)
    emb = session_env(world)
    emb.reset(seed=0)
    with pytest.raises(ValueError):
        emb.step(np.zeros(7, dtype=np.float32))
    with pytest.raises(ValueError, match="finite"):
        emb.step(np.full(30, np.nan, dtype=np.float32))
    emb.step(np.zeros(30, dtype=np.float32))  # the environment still works
    with pytest.raises(segue.SegueError, match="reset"):
        segue.random_policy(session_env(world), 1).act(session_env(world).core)
    with pytest.raises(segue.SegueError, match="session 999999"):
        emb.reset(options={"session": 999999})
    with pytest.raises(segue.SegueError):
        segue.load_run(tmp_path)
