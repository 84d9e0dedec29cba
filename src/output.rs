//! Output folders that appear whole or not at all: every stage writes into a hidden staging
//! folder beside the target and renames it into place at the end, so a crash or an error never
//! leaves a half-written result where a later stage would read it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
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

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)
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
