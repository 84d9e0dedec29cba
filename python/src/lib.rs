//! segue from Python: the environment seam ([`OwnedEnv`], the same `Environment` that
//! `segue eval` plays) wrapped for the `segue` package, whose Gymnasium environments are thin
//! Python over these classes. Bad input raises `segue.SegueError` (a `ValueError` for a bad
//! argument) with segue's own message; nothing here panics on what a caller passes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use segue::agent::policy::{ActionSpace, AgentPolicy, policy_name};
use segue::data::Split;
use segue::eval::owned::{OwnedEnv, Seen};
use segue::rng::Rng;
use segue::simulator::SimulatorConfig;
use segue::simulator::config::RewardKind;
use segue::simulator::policy::RandomPolicy;

pyo3::create_exception!(segue._segue, SegueError, PyException);

fn segue_err(e: impl std::fmt::Display) -> PyErr {
    SegueError::new_err(e.to_string())
}

/// A snake_case name of a serde enum (`"test"`, `"not_skipped"`), or a `ValueError` listing
/// what `what` accepts.
fn parse_name<T: serde::de::DeserializeOwned>(
    name: &str,
    what: &str,
    accepted: &str,
) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::String(name.into()))
        .map_err(|_| PyValueError::new_err(format!("{what} {name:?}: expected one of {accepted}")))
}

/// The simulator settings: a run config's `[simulator]` table (or the defaults), then the
/// arguments.
fn settings(
    config: Option<&Path>,
    reward: Option<&str>,
    horizon: Option<usize>,
) -> PyResult<SimulatorConfig> {
    let mut cfg = match config {
        None => SimulatorConfig::default(),
        Some(p) => {
            segue::config::load::<segue::pipeline::RunConfig>(p)
                .map_err(segue_err)?
                .simulator
        }
    };
    if let Some(r) = reward {
        let accepted = "not_skipped, no_skip1, no_skip2, no_skip3, graded";
        cfg.reward = parse_name::<RewardKind>(r, "reward", accepted)?;
    }
    if let Some(h) = horizon {
        cfg.horizon = h;
    }
    cfg.validate()
        .map_err(|e| PyValueError::new_err(format!("invalid simulator config: {e}")))?;
    Ok(cfg)
}

/// Batched episodes of one split of a sample: in its simulator, or under a synthetic world's
/// true model when `world_dir` is given. The Gymnasium environments of the `segue` package
/// drive one of these.
#[pyclass(module = "segue._segue", frozen)]
struct Episodes {
    inner: Mutex<State>,
    latent: usize,
    action_dim: usize,
    tracks: usize,
    horizon: usize,
    track_ids: Vec<String>,
    session_ids: Vec<String>,
    encoder_dir: PathBuf,
}

struct State {
    env: OwnedEnv,
    /// The tracks each episode may no longer be recommended (after the last reset or step).
    excluded: Option<Vec<Vec<u32>>>,
}

impl Episodes {
    fn state(&self) -> PyResult<std::sync::MutexGuard<'_, State>> {
        self.inner.lock().map_err(|_| {
            SegueError::new_err("a previous call failed midway; make a new environment")
        })
    }
}

/// The states `[n, latent]` of `seen` as a numpy array (moved, not copied); its exclusions
/// stay in `st`.
fn states<'py>(
    py: Python<'py>,
    st: &mut State,
    seen: Seen,
    latent: usize,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let n = seen.excluded.len();
    st.excluded = Some(seen.excluded);
    PyArray1::from_vec(py, seen.states).reshape([n, latent])
}

#[pymethods]
impl Episodes {
    #[new]
    #[pyo3(signature = (sample_dir, encoder_dir, world_dir=None, split="test", reward=None, horizon=None, config=None))]
    fn new(
        py: Python<'_>,
        sample_dir: PathBuf,
        encoder_dir: PathBuf,
        world_dir: Option<PathBuf>,
        split: &str,
        reward: Option<&str>,
        horizon: Option<usize>,
        config: Option<PathBuf>,
    ) -> PyResult<Episodes> {
        let split: Split = parse_name(split, "split", "train, validation, test")?;
        let cfg = settings(config.as_deref(), reward, horizon)?;
        let env = py
            .detach(|| OwnedEnv::open(&sample_dir, &encoder_dir, world_dir.as_deref(), split, &cfg))
            .map_err(segue_err)?;
        let setup = &env.setup;
        Ok(Episodes {
            latent: setup.encoder.model.latent,
            action_dim: setup.space.dim,
            tracks: setup.space.len(),
            horizon: cfg.horizon,
            track_ids: setup.sample.tracks.clone(),
            session_ids: setup.sample.sessions.iter().map(|s| s.id.clone()).collect(),
            encoder_dir: setup.encoder_dir.clone(),
            inner: Mutex::new(State {
                env,
                excluded: None,
            }),
        })
    }

    /// Dimension of the observations (the encoder's latent state).
    #[getter]
    fn latent(&self) -> usize {
        self.latent
    }

    /// Dimension of the song-space actions.
    #[getter]
    fn action_dim(&self) -> usize {
        self.action_dim
    }

    /// Tracks of the catalogue (the discrete actions).
    #[getter]
    fn tracks(&self) -> usize {
        self.tracks
    }

    #[getter]
    fn horizon(&self) -> usize {
        self.horizon
    }

    /// The id of each track (its MSSD `track_id`).
    #[getter]
    fn track_ids(&self) -> Vec<String> {
        self.track_ids.clone()
    }

    /// The id of sample session `i`.
    fn session_id(&self, i: usize) -> PyResult<String> {
        self.session_ids.get(i).cloned().ok_or_else(|| {
            PyValueError::new_err(format!(
                "session {i}: the sample has {}",
                self.session_ids.len()
            ))
        })
    }

    /// The sessions that start `n` episodes under `seed`, as `segue eval` draws them.
    fn draw_sessions(&self, n: usize, seed: u64) -> PyResult<Vec<usize>> {
        let s = self.state()?.env.draw_sessions(n, seed);
        if s.is_empty() && n > 0 {
            return Err(SegueError::new_err(
                "no session of this split is long enough to start an episode",
            ));
        }
        Ok(s)
    }

    /// Starts an episode from each of `sessions`, responses drawn from the streams of `seed`;
    /// returns the observations `[n, latent]`.
    fn reset<'py>(
        &self,
        py: Python<'py>,
        sessions: Vec<usize>,
        seed: u64,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let mut st = self.state()?;
        let seen = st.env.reset(&sessions, seed).map_err(segue_err)?;
        states(py, &mut st, seen, self.latent)
    }

    /// Plays one track per episode (`tracks`, int64 `[n]`); returns the observations, the
    /// rewards, the response levels (0-3), the covered flags and the truncation flags.
    #[allow(clippy::type_complexity)]
    fn step<'py>(
        &self,
        py: Python<'py>,
        tracks: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<(
        Bound<'py, PyArray2<f32>>,
        Bound<'py, PyArray1<f64>>,
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<bool>>,
        Bound<'py, PyArray1<bool>>,
    )> {
        let tracks: Vec<u32> = tracks
            .as_array()
            .iter()
            .map(|&t| {
                u32::try_from(t)
                    .ok()
                    .filter(|&t| (t as usize) < self.tracks)
                    .ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "track {t} is outside the catalogue of {} tracks",
                            self.tracks
                        ))
                    })
            })
            .collect::<PyResult<_>>()?;
        let mut st = self.state()?;
        let (steps, scores, seen) = st.env.step(&tracks).map_err(segue_err)?;
        let obs = states(py, &mut st, seen, self.latent)?;
        // The score each step adds in `segue eval`: the reward drawn, or under a world its exact
        // expectation.
        let rewards = scores;
        let levels: Vec<i64> = steps.iter().map(|s| s.level as i64).collect();
        let covered: Vec<bool> = steps.iter().map(|s| s.covered).collect();
        let truncated: Vec<bool> = steps.iter().map(|s| s.truncated).collect();
        Ok((
            obs,
            rewards.into_pyarray(py),
            levels.into_pyarray(py),
            covered.into_pyarray(py),
            truncated.into_pyarray(py),
        ))
    }

    /// The `k` tracks nearest to each song-space action (`[n, action_dim]` in [−1, 1]) that
    /// its episode may still be recommended, nearest first (`[n, k]`; the nearest repeated
    /// where fewer are left).
    fn nearest<'py>(
        &self,
        py: Python<'py>,
        actions: PyReadonlyArray2<'py, f32>,
        k: usize,
    ) -> PyResult<Bound<'py, PyArray2<i64>>> {
        let a = actions.as_array();
        let (n, d) = a.dim();
        if d != self.action_dim || k == 0 || k > self.tracks {
            return Err(PyValueError::new_err(format!(
                "actions of shape ({n}, {d}) and k = {k}: expected (episodes, {}) and 1 ≤ k ≤ {}",
                self.action_dim, self.tracks
            )));
        }
        let flat: Vec<f32> = a.iter().copied().collect();
        if flat.iter().any(|x| !x.is_finite()) {
            return Err(PyValueError::new_err("actions must be finite"));
        }
        let st = self.state()?;
        let ex = st
            .excluded
            .as_ref()
            .ok_or_else(|| SegueError::new_err("reset the episodes first"))?;
        if ex.len() != n {
            return Err(PyValueError::new_err(format!(
                "{n} actions for {} episodes",
                ex.len()
            )));
        }
        let excluded: Vec<&[u32]> = ex.iter().map(Vec::as_slice).collect();
        let cands = st.env.space().candidates(&flat, k, 0, None, &excluded);
        let mut out = Vec::with_capacity(n * k);
        for c in &cands {
            out.extend((0..k).map(|j| *c.get(j).unwrap_or(&c[0]) as i64));
        }
        PyArray1::from_vec(py, out).reshape([n, k])
    }

    /// Each track as a song-space action (`[tracks, action_dim]` in [−1, 1]).
    fn track_actions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let t = self.state()?.env.space().tracks.clone();
        PyArray1::from_vec(py, t).reshape([self.tracks, self.action_dim])
    }

    /// Synthetic worlds: each episode's greedy-oracle and planner expected scores over its
    /// remaining steps (`[n, 2]`); None in the simulator.
    fn ceilings<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray2<f64>>>> {
        let mut st = self.state()?;
        let Some(c) = st.env.ceilings() else {
            return Ok(None);
        };
        let n = c.len();
        let flat: Vec<f64> = c.into_iter().flatten().collect();
        Ok(Some(PyArray1::from_vec(py, flat).reshape([n, 2])?))
    }
}

/// A baseline of `segue eval` playing the episodes exactly as the evaluator plays it: its
/// random choices drawn from the evaluation seed's policy stream.
#[pyclass(module = "segue._segue", frozen)]
struct RandomTracks {
    inner: Mutex<(RandomPolicy, Rng)>,
}

#[pymethods]
impl RandomTracks {
    /// Uniformly random allowed tracks, as `segue eval`'s `random` row under `seed`.
    #[new]
    fn new(episodes: &Episodes, seed: u64) -> RandomTracks {
        let policy = RandomPolicy {
            tracks: episodes.tracks as u32,
        };
        RandomTracks {
            inner: Mutex::new((
                policy,
                Rng::stream(seed, &[segue::eval::play::POLICY_STREAM]),
            )),
        }
    }

    /// One track per episode of `episodes` as they are now.
    fn act<'py>(
        &self,
        py: Python<'py>,
        episodes: &Episodes,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let mut st = episodes.state()?;
        let mut me = self
            .inner
            .lock()
            .map_err(|_| SegueError::new_err("poisoned"))?;
        let (policy, rng) = &mut *me;
        let t = st.env.act(policy, rng).map_err(segue_err)?;
        Ok(t.into_iter()
            .map(|t| t as i64)
            .collect::<Vec<_>>()
            .into_pyarray(py))
    }
}

/// A trained agent of a `segue train` run, acting as `segue eval` scores it.
#[pyclass(module = "segue._segue", frozen)]
struct Agent {
    agent: segue::agent::Agent,
    space: ActionSpace,
    encoder_dir: PathBuf,
    name: String,
}

#[pymethods]
impl Agent {
    #[new]
    fn new(py: Python<'_>, run_dir: PathBuf) -> PyResult<Agent> {
        py.detach(|| -> Result<Agent, String> {
            let (agent, cfg) =
                segue::agent::train::load_agent(&run_dir).map_err(|e| e.to_string())?;
            let enc = segue::encoder::Encoder::load(&cfg.encoder).map_err(|e| e.to_string())?;
            let sample = segue::data::load_sample_dir(&cfg.sample)
                .map_err(|e| e.to_string())?
                .sample;
            let space = ActionSpace::new(&enc.songs, &agent.cfg.index).with_popularity(&sample);
            let name = policy_name(&agent.cfg, agent.cfg.candidates, cfg.world.is_some());
            let encoder_dir = std::fs::canonicalize(&cfg.encoder)
                .map_err(|e| format!("{}: {e}", cfg.encoder.display()))?;
            Ok(Agent {
                agent,
                space,
                encoder_dir,
                name,
            })
        })
        .map_err(SegueError::new_err::<String>)
    }

    /// The policy's name in segue's reports.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// The agent's track for each episode of `episodes` as they are now (its observations,
    /// exclusions and re-ranking as in `segue eval`).
    fn act<'py>(
        &self,
        py: Python<'py>,
        episodes: &Episodes,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        if episodes.encoder_dir != self.encoder_dir {
            return Err(SegueError::new_err(format!(
                "the agent reads the encoder {}, the episodes {}",
                self.encoder_dir.display(),
                episodes.encoder_dir.display()
            )));
        }
        let mut st = episodes.state()?;
        let mut policy = AgentPolicy {
            name: self.name.clone(),
            agent: &self.agent,
            space: &self.space,
            candidates: self.agent.cfg.candidates,
        };
        let mut rng = Rng::new(0);
        let t = st.env.act(&mut policy, &mut rng).map_err(segue_err)?;
        Ok(t.into_iter()
            .map(|t| t as i64)
            .collect::<Vec<_>>()
            .into_pyarray(py))
    }
}

/// `segue export`: the logged transitions of `splits` as offline-RL arrays in `out` (.npz);
/// returns what was written.
#[pyfunction]
#[pyo3(signature = (sample_dir, encoder_dir, out, splits=vec!["train".to_string()], reward="not_skipped"))]
fn export<'py>(
    py: Python<'py>,
    sample_dir: PathBuf,
    encoder_dir: PathBuf,
    out: PathBuf,
    splits: Vec<String>,
    reward: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let splits: Vec<Split> = splits
        .iter()
        .map(|s| parse_name(s, "split", "train, validation, test"))
        .collect::<PyResult<_>>()?;
    let cfg = settings(None, Some(reward), None)?;
    let r = py
        .detach(|| segue::agent::export::run_export(&sample_dir, &encoder_dir, &cfg, &splits, &out))
        .map_err(segue_err)?;
    let d = PyDict::new(py);
    d.set_item("transitions", r.transitions)?;
    d.set_item("episodes", r.episodes)?;
    d.set_item("observation_dim", r.observation_dim)?;
    d.set_item("action_dim", r.action_dim)?;
    d.set_item("splits", r.splits)?;
    Ok(d)
}

#[pymodule]
fn _segue(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Episodes>()?;
    m.add_class::<RandomTracks>()?;
    m.add_class::<Agent>()?;
    m.add_function(wrap_pyfunction!(export, m)?)?;
    m.add("SegueError", m.py().get_type::<SegueError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
