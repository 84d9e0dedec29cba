//! Output folders that appear whole or not at all: every stage writes into a hidden staging
//! folder beside the target and renames it into place at the end, so a crash or an error never
//! leaves a half-written result where a later stage would read it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A staging folder that becomes `target` on [`StagedDir::commit`] and is removed if dropped
/// before that.
#[derive(Debug)]
pub struct StagedDir {
    staging: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Prepares to write `target`. Fails if `target` exists and is not an empty folder, unless
    /// `force` (then the old folder is replaced at commit time, not before).
    pub fn new(target: &Path, force: bool) -> io::Result<Self> {
        if target.exists() && !force && !is_empty_dir(target)? {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} already exists and is not empty (pass --force to replace it)",
                    target.display()
                ),
            ));
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let prefix = format!(".{name}.partial-");
        remove_stale(&parent, &prefix);
        let staging = parent.join(format!("{prefix}{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        fs::create_dir(&staging)?;
        Ok(StagedDir {
            staging,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// Where files are written until commit.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Where the folder goes on commit.
    pub fn target(&self) -> &Path {
        &self.target
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Moves the staging folder into place.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        if self.target.exists() {
            if self.target.is_dir() {
                fs::remove_dir_all(&self.target)?;
            } else {
                fs::remove_file(&self.target)?;
            }
        }
        fs::rename(&self.staging, &self.target)?;
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

fn is_empty_dir(p: &Path) -> io::Result<bool> {
    Ok(p.is_dir() && fs::read_dir(p)?.next().is_none())
}

/// Removes the staging entries `<prefix><pid>` in `dir` left by processes that no longer run
/// (a run killed before its commit or rename). Entries of live processes, this one included,
/// are kept: another run may be writing the same output right now. Best effort: a stale entry
/// that cannot be removed is left for the next run and does not fail this one.
pub fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let p = e.path();
        let removed = if p.is_dir() {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        match removed {
            Ok(()) => tracing::info!(
                "removed {} (left by process {pid}, which is gone)",
                p.display()
            ),
            Err(err) => tracing::warn!("could not remove stale {}: {err}", p.display()),
        }
    }
}

/// Whether a process with this id exists (signal 0 checks without sending anything; EPERM
/// means it exists under another user).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The temporary file name that [`write_atomic`] writes `path` through, for a process id.
fn atomic_tmp_prefix(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    Some(format!("{stem}.tmp-"))
}

/// Writes `bytes` to `path` through a temporary file and a rename; temporary files of the same
/// path left by killed processes are removed first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let (Some(prefix), Some(dir)) = (atomic_tmp_prefix(path), path.parent()) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        remove_stale(dir, &prefix);
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)
}

/// Why a run folder could not be readied, read or written.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} has no {checkpoint} to resume from", path.display())]
    NoCheckpoint { path: PathBuf, checkpoint: String },
    #[error("{} exists: pass --force to replace it or --resume to continue it", path.display())]
    Exists { path: PathBuf },
    #[error("{}: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    #[error(
        "{} was made with another config or input; resume with the same ones or start anew \
         with --force",
        path.display()
    )]
    OtherConfig { path: PathBuf },
}

/// Maps an I/O error on `path` into a [`FolderError`].
pub fn io_at(path: &Path) -> impl FnOnce(io::Error) -> FolderError + '_ {
    move |source| FolderError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Readies a run folder: with `resume` it must hold `checkpoint`; otherwise it must not exist
/// (or is replaced with `force`) and is created empty.
pub fn prepare_folder(
    out: &Path,
    force: bool,
    resume: bool,
    checkpoint: &str,
) -> Result<(), FolderError> {
    if resume {
        if !out.join(checkpoint).is_file() {
            return Err(FolderError::NoCheckpoint {
                path: out.to_path_buf(),
                checkpoint: checkpoint.into(),
            });
        }
        return Ok(());
    }
    if out.exists() {
        if !force {
            return Err(FolderError::Exists {
                path: out.to_path_buf(),
            });
        }
        fs::remove_dir_all(out).map_err(io_at(out))?;
    }
    fs::create_dir_all(out).map_err(io_at(out))
}

/// Writes a run's `config.json` first; when resuming, checks that the one in the folder is the
/// same (another config or input would not continue the same run).
pub fn record_config<T>(path: &Path, cfg: &T, resume: bool) -> Result<(), FolderError>
where
    T: Serialize + DeserializeOwned + PartialEq,
{
    if !resume {
        return write_json(path, cfg);
    }
    let text = fs::read_to_string(path).map_err(io_at(path))?;
    let saved: T = serde_json::from_str(&text).map_err(|e| FolderError::Unreadable {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if saved != *cfg {
        return Err(FolderError::OtherConfig {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Writes `v` as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), FolderError> {
    let text = serde_json::to_string_pretty(v).expect("configs serialise") + "\n";
    write_atomic(path, text.as_bytes()).map_err(io_at(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_staging_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        {
            let s = StagedDir::new(&target, false).unwrap();
            fs::write(s.join("a.txt"), "x").unwrap();
        }
        assert!(!target.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// The id of a process that has exited (reaped, so the id is free again).
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid));
        pid
    }

    #[test]
    fn stale_staging_of_dead_processes_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let dead = dir.path().join(format!(".out.partial-{}", dead_pid()));
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join("half.csv"), "x").unwrap();
        // A live process's staging (this test's parent, pid 1 or the shell) is kept, and so is
        // another output's.
        let live = dir.path().join(format!(
            ".out.partial-{}",
            std::os::unix::process::parent_id()
        ));
        fs::create_dir(&live).unwrap();
        let other = dir.path().join(format!(".other.partial-{}", dead_pid()));
        fs::create_dir(&other).unwrap();
        let s = StagedDir::new(&target, false).unwrap();
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(other.exists());
        s.commit().unwrap();
        assert!(target.is_dir());

        // The same for the temporary files of atomic writes (checkpoints, metrics).
        let file = dir.path().join("metrics.jsonl");
        let tmp = dir.path().join(format!("metrics.tmp-{}", dead_pid()));
        fs::write(&tmp, "half").unwrap();
        write_atomic(&file, b"whole").unwrap();
        assert!(!tmp.exists());
        assert_eq!(fs::read(&file).unwrap(), b"whole");
    }

    #[test]
    fn commit_replaces_only_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("old.txt"), "old").unwrap();
        assert!(StagedDir::new(&target, false).is_err());
        let s = StagedDir::new(&target, true).unwrap();
        fs::write(s.join("new.txt"), "new").unwrap();
        s.commit().unwrap();
        assert!(target.join("new.txt").exists());
        assert!(!target.join("old.txt").exists());
    }
}
