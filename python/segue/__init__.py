"""segue from Python: Gymnasium environments over segue's user simulator (fitted to
music-session logs) and over synthetic worlds' true models, segue's trained agents, and the
logged transitions as offline-RL data.

The environments are segue's own (`segue.eval.Environment` in Rust), the same episodes that
`segue eval` scores: a Python loop over them gives the evaluator's numbers.
"""

from segue._segue import SegueError, __version__, export
from segue.envs import SessionEnv, SessionVectorEnv, WorldEnv, load_run, random_policy

__all__ = [
    "SegueError",
    "SessionEnv",
    "SessionVectorEnv",
    "WorldEnv",
    "__version__",
    "export",
    "load_run",
    "random_policy",
]
