"""The Gymnasium environments: one episode (`SessionEnv`, `WorldEnv`) or many side by side
(`SessionVectorEnv`, batched inside Rust), all driving segue's `Episodes`.

Observations: the encoder's latent state of the last plays (`Box(-1, 1, (latent,))`, float32),
the state segue's agents read before their own standardisation.

Actions: with `action="track"`, a track index (`Discrete(tracks)`); with `action="embedding"`, a
point of song space in [-1, 1]^dim (`Box`), mapped to the nearest track the episode may still
be recommended, or with `candidates=k` to the best of the k nearest by `scorer(observation,
candidate_actions) -> scores` (Wolpertinger's re-ranking with your own critic).

An episode makes `horizon` recommendations; its end is a truncation (`truncated=True`), never a
termination: the listener's session would go on.
"""

from __future__ import annotations

import numpy as np
import gymnasium as gym
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from segue import _segue

_SEED_LIMIT = 2**63 - 1


def _core(sample_dir, encoder_dir, world_dir, split, reward, horizon, config):
    return _segue.Episodes(
        str(sample_dir),
        str(encoder_dir),
        None if world_dir is None else str(world_dir),
        split,
        reward,
        horizon,
        None if config is None else str(config),
    )


def _spaces(core: _segue.Episodes, action: str):
    obs = spaces.Box(-1.0, 1.0, shape=(core.latent,), dtype=np.float32)
    if action == "track":
        act = spaces.Discrete(core.tracks)
    elif action == "embedding":
        act = spaces.Box(-1.0, 1.0, shape=(core.action_dim,), dtype=np.float32)
    else:
        raise ValueError(f'action {action!r}: expected "embedding" or "track"')
    return obs, act


class _Tracks:
    """Maps a batch of actions to tracks as the environment was asked to."""

    def __init__(self, core, action, candidates, scorer):
        if candidates < 1:
            raise ValueError(f"candidates {candidates}: at least 1")
        if candidates > 1 and scorer is None:
            raise ValueError("candidates > 1 needs a scorer(observation, candidate_actions)")
        self.core, self.action, self.k, self.scorer = core, action, candidates, scorer
        self.table = core.track_actions() if scorer is not None else None

    def __call__(self, actions, obs):
        if self.action == "track":
            t = np.asarray(actions, dtype=np.int64).reshape(-1)
            if t.shape[0] != obs.shape[0]:
                raise ValueError(f"{t.shape[0]} tracks for {obs.shape[0]} episodes")
            return t
        a = np.asarray(actions, dtype=np.float32).reshape(obs.shape[0], self.core.action_dim)
        near = self.core.nearest(np.ascontiguousarray(a), self.k)
        if self.k == 1:
            return near[:, 0].copy()
        best = np.empty(near.shape[0], dtype=np.int64)
        for i, c in enumerate(near):
            scores = np.asarray(self.scorer(obs[i], self.table[c]), dtype=np.float64)
            best[i] = c[int(np.argmax(scores))]
        return best


class SessionEnv(gym.Env):
    """One listening session at a time in segue's user simulator (or, through `WorldEnv`, a
    synthetic world's true model).

    `reset(seed=s)` starts from the session and response stream `segue eval` draws for episode 0
    of seed `s`; `reset(options={"session": i})` from sample session `i`.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        sample_dir,
        encoder_dir,
        split="test",
        reward=None,
        horizon=None,
        action="embedding",
        candidates=1,
        scorer=None,
        seed=None,
        config=None,
        *,
        _world_dir=None,
    ):
        self.core = _core(sample_dir, encoder_dir, _world_dir, split, reward, horizon, config)
        self.observation_space, self.action_space = _spaces(self.core, action)
        self._tracks = _Tracks(self.core, action, candidates, scorer)
        self._track_ids = self.core.track_ids
        self._obs = None
        self._session = None
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)

    def _core_seed(self, seed):
        return int(seed) if seed is not None else int(self.np_random.integers(0, _SEED_LIMIT))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        s = self._core_seed(seed)
        session = (options or {}).get("session")
        sessions = [int(session)] if session is not None else self.core.draw_sessions(1, s)
        self._obs = self.core.reset(sessions, s)
        self._session = sessions[0]
        return self._obs[0].copy(), self._info_reset()

    def _info_reset(self):
        return {"session": self._session, "session_id": self.core.session_id(self._session)}

    def step(self, action):
        if self._obs is None:
            raise _segue.SegueError("reset the environment before stepping it")
        track = self._tracks(np.asarray(action)[None, ...], self._obs)
        obs, rewards, levels, covered, truncated = self.core.step(track)
        self._obs = obs
        info = {
            "track": int(track[0]),
            "track_id": self._track_ids[int(track[0])],
            "level": int(levels[0]),
            "covered": bool(covered[0]),
            "session": self._session,
        }
        return obs[0].copy(), float(rewards[0]), False, bool(truncated[0]), info


class WorldEnv(SessionEnv):
    """`SessionEnv` under a synthetic world's true model (`segue synth`): the same episodes,
    each response drawn from the hidden user, the reward its exact expectation. `reset`'s info
    holds the greedy oracle's and the planner's expected scores for the episode's user (what
    knowing the user reaches), for reference."""

    def __init__(self, world_dir, sample_dir, encoder_dir, **kwargs):
        super().__init__(sample_dir, encoder_dir, _world_dir=world_dir, **kwargs)

    def _info_reset(self):
        info = super()._info_reset()
        c = self.core.ceilings()
        info["greedy_oracle"], info["planner"] = float(c[0, 0]), float(c[0, 1])
        return info


class SessionVectorEnv(VectorEnv):
    """`num_envs` sessions side by side, batched inside Rust (one call per step for all).

    `reset(seed=s)` starts the episodes `segue eval` plays under seed `s` (with `num_envs` as
    its episode count). Episodes all end together after `horizon` steps; the next `step`
    starts new ones (`AutoresetMode.NEXT_STEP`).
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        sample_dir,
        encoder_dir,
        num_envs=64,
        split="test",
        reward=None,
        horizon=None,
        action="embedding",
        candidates=1,
        scorer=None,
        config=None,
        world_dir=None,
    ):
        self.core = _core(sample_dir, encoder_dir, world_dir, split, reward, horizon, config)
        self.num_envs = int(num_envs)
        self.single_observation_space, self.single_action_space = _spaces(self.core, action)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._tracks = _Tracks(self.core, action, candidates, scorer)
        self._obs = None
        self._ended = False

    def _start(self, seed):
        self._sessions = self.core.draw_sessions(self.num_envs, seed)
        self._obs = self.core.reset(self._sessions, seed)
        self._ended = False
        return self._obs.copy(), {"session": np.asarray(self._sessions, dtype=np.int64)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        s = int(seed) if seed is not None else int(self.np_random.integers(0, _SEED_LIMIT))
        return self._start(s)

    def step(self, actions):
        n = self.num_envs
        if self._obs is None:
            raise _segue.SegueError("reset the environments before stepping them")
        if self._ended:
            obs, info = self._start(int(self.np_random.integers(0, _SEED_LIMIT)))
            zeros = np.zeros(n, dtype=bool)
            return obs, np.zeros(n), zeros, zeros.copy(), info
        tracks = self._tracks(actions, self._obs)
        obs, rewards, levels, covered, truncated = self.core.step(tracks)
        self._obs = obs
        self._ended = bool(truncated.all())
        info = {"track": tracks, "level": levels, "covered": covered}
        return obs.copy(), rewards, np.zeros(n, dtype=bool), truncated, info


class _Agent:
    """A trained segue agent: `act(env)` gives its tracks for the episodes of a segue
    environment as they are now (its own observations, exclusions and re-ranking, as
    `segue eval` scores it)."""

    def __init__(self, run_dir):
        self._agent = _segue.Agent(str(run_dir))
        self.name = self._agent.name

    def act(self, env):
        core = getattr(env, "core", None) or getattr(getattr(env, "unwrapped", None), "core", None)
        if core is None:
            raise TypeError("act() takes a segue environment (SessionEnv, WorldEnv, SessionVectorEnv)")
        return self._agent.act(core)


def load_run(run_dir):
    """The agent of a finished `segue train` run (or one of `segue run`'s `agents/*`)."""
    return _Agent(run_dir)


def random_policy(env, seed):
    """`segue eval`'s random baseline under evaluation seed `seed`: `policy.act(env.core)`
    draws its tracks exactly as the evaluator does."""
    core = getattr(env, "core", None) or env.unwrapped.core
    return _segue.RandomTracks(core, int(seed))
