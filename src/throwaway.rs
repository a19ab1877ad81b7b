//! Throwaway directories, for `--in-memory`: its database, and its data dir (keys,
//! certificates) unless `--data-dir` names one. Each is made under the system's
//! temporary directory with the owning process's id in its name, and removed when
//! dropped. A process killed outright (`kill -9`) cannot remove its own, so every
//! new one first sweeps those whose process is gone.

use std::path::{Path, PathBuf};

const PREFIX: &str = "cloudpc-partners-";

/// A directory of this process's, removed when dropped.
#[derive(Debug)]
pub struct Throwaway(PathBuf);

impl Throwaway {
    /// Makes one, after sweeping the leftovers of processes that no longer run.
    pub fn create() -> std::io::Result<Self> {
        let temp = std::env::temp_dir();
        sweep(&temp);
        let dir = temp.join(format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir(&dir)?;
        Ok(Self(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Removes it now (a store closing while others still hold the handle).
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The process id a throwaway directory's name holds.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, id) = rest.split_once('-')?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Removes the throwaway directories under `temp` whose process has ended. Where
/// processes cannot be looked up (no `/proc`), nothing is removed.
fn sweep(temp: &Path) {
    let proc = Path::new("/proc/self");
    if !proc.exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = owner(&name.to_string_lossy()) else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_owner() {
        let t = Throwaway::create().unwrap();
        let name = t.path().file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(owner(&name), Some(std::process::id()));
        assert_eq!(owner("cloudpc-partners-data"), None);
        assert_eq!(owner("cloudpc-partners-12-notahexid"), None);
    }

    #[test]
    fn a_dead_processs_directory_is_swept_and_a_live_ones_kept() {
        let temp = tempfile::tempdir().unwrap();
        // No process has this id (above the kernel's pid_max).
        let dead = temp.path().join(format!(
            "{PREFIX}4294967295-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let live = temp.path().join(format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let other = temp.path().join("cloudpc-partners-data");
        for d in [&dead, &live, &other] {
            std::fs::create_dir(d).unwrap();
        }
        sweep(temp.path());
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(other.exists());
    }
}
