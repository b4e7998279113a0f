//! Every file deeplens writes goes through here.
//!
//! - [`check_target`] before any work starts: an existing target is refused unless `-y`; a
//!   target that is not a regular file (a folder, a device node, a FIFO) is refused even with
//!   `-y`; a target that is one of the inputs (same device and inode) is refused always; its
//!   folder must exist.
//! - [`TempOutput`] writes under a temporary name in the same folder (keeping the extension, so
//!   formats are still guessed from it), created exclusively (`O_EXCL`: never through a planted
//!   symlink) with an unpredictable name, and renamed on success; a failure never leaves a partial
//!   file at the target, and the temporary file is removed. Without `-y` the commit is a hard
//!   link that fails if a file appeared at the target meanwhile (two runs to one output: the
//!   second fails, nothing is replaced). Temporary files of runs that died are removed by the
//!   next run writing into the same folder.

use anyhow::{bail, Context, Result};
use std::hash::{BuildHasher, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Check a file we are about to write, before any work: see the module documentation.
pub fn check_target(target: &Path, overwrite: bool, inputs: &[&Path]) -> Result<()> {
    let shown = target.display();
    if let Ok(md) = std::fs::metadata(target) {
        for i in inputs {
            if let Ok(im) = std::fs::metadata(i) {
                if im.dev() == md.dev() && im.ino() == md.ino() {
                    bail!("{shown} is an input of this run; write the result somewhere else");
                }
            }
        }
        if !md.is_file() {
            bail!("{shown} exists and is not a regular file (a folder, device or pipe); refusing to replace it");
        }
        if !overwrite {
            bail!("{shown} exists; pass -y/--overwrite to replace it");
        }
    } else if std::fs::symlink_metadata(target).is_ok() {
        bail!("{shown} is a dangling symbolic link; refusing to write through it");
    }
    let dir = folder_of(target);
    if !dir.is_dir() {
        bail!("cannot write {shown}: folder {} does not exist", dir.display());
    }
    Ok(())
}

fn folder_of(target: &Path) -> &Path {
    target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// An unpredictable 64-bit value (the standard library's per-process random hash keys, the time
/// and a counter).
fn random_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

/// The part of our temporary names after the target's stem: `.deeplens-HOST-PID-RANDOM.tmp`.
const TEMP_MARK: &str = ".deeplens-";

/// This machine's name, letters and digits only (temporary names carry it, so a run never takes
/// another machine's live temporary file on shared storage for a dead one).
fn host() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let h: String = h.trim().chars().filter(|c| c.is_ascii_alphanumeric()).take(32).collect();
    if h.is_empty() {
        "host".into()
    } else {
        h
    }
}

/// Remove temporary files of deeplens runs in `dir` whose process is gone.
fn remove_stale_temps(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let me = host();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            continue;
        }
        let Some(rest) = name.rfind(TEMP_MARK).map(|i| &name[i + TEMP_MARK.len()..]) else { continue };
        let mut parts = rest.splitn(3, '-');
        let (Some(h), Some(pid), Some(tail)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if h != me || !tail.contains(".tmp") || pid.is_empty() || !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let alive = Path::new("/proc").join(pid).exists();
        if !alive && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A file being written under a temporary name; removed unless committed.
pub struct TempOutput {
    pub tmp: PathBuf,
    target: PathBuf,
    replace: bool,
    keep: bool,
}

impl TempOutput {
    /// A temporary file beside `target`; `replace` (`-y`) lets the commit replace an existing file.
    pub fn new(target: &Path, replace: bool) -> Result<Self> {
        let dir = folder_of(target);
        if !dir.is_dir() {
            bail!("cannot write {}: folder {} does not exist", target.display(), dir.display());
        }
        remove_stale_temps(dir);
        let name = target.file_name().context("output path has no file name")?.to_string_lossy().into_owned();
        let (stem, ext) = match name.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
            _ => (name.clone(), String::new()),
        };
        for _ in 0..8 {
            let tmp = dir.join(format!(".{stem}{TEMP_MARK}{}-{}-{:016x}.tmp{ext}", host(), std::process::id(), random_u64()));
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(_) => return Ok(Self { tmp, target: target.to_path_buf(), replace, keep: false }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot write {}", target.display())),
            }
        }
        bail!("cannot write {}: no free temporary name", target.display())
    }

    /// Move the finished file to the target. Without `replace`, a file that appeared at the
    /// target meanwhile is kept and this fails.
    pub fn commit(mut self) -> Result<()> {
        if self.replace {
            if std::fs::symlink_metadata(&self.target).is_ok_and(|m| !m.is_file()) {
                bail!("{} is no longer a regular file; not replaced", self.target.display());
            }
            std::fs::rename(&self.tmp, &self.target).with_context(|| format!("cannot move the result to {}", self.target.display()))?;
        } else {
            match std::fs::hard_link(&self.tmp, &self.target) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&self.tmp);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    bail!("{} appeared while deeplens was writing it (another run?); kept it, pass -y/--overwrite to replace it", self.target.display());
                }
                // File systems without hard links: check, then rename (a small window remains).
                Err(_) => {
                    if std::fs::symlink_metadata(&self.target).is_ok() {
                        bail!("{} appeared while deeplens was writing it (another run?); kept it, pass -y/--overwrite to replace it", self.target.display());
                    }
                    std::fs::rename(&self.tmp, &self.target).with_context(|| format!("cannot move the result to {}", self.target.display()))?;
                }
            }
        }
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unpredictable_and_exclusive() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("out.mp4");
        let a = TempOutput::new(&target, false).unwrap();
        let b = TempOutput::new(&target, false).unwrap();
        assert_ne!(a.tmp, b.tmp);
        assert!(a.tmp.to_string_lossy().ends_with(".mp4"));
        std::fs::write(&a.tmp, b"x").unwrap();
        a.commit().unwrap();
        // The second run must not replace what the first committed.
        let e = b.commit().unwrap_err().to_string();
        assert!(e.contains("appeared"), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"x");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "temporary files left");
    }

    #[test]
    fn targets_that_are_inputs_devices_or_existing_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("in.mp4");
        std::fs::write(&f, b"x").unwrap();
        assert!(check_target(&f, true, &[&f]).unwrap_err().to_string().contains("input"));
        assert!(check_target(&f, false, &[]).unwrap_err().to_string().contains("-y"));
        assert!(check_target(&f, true, &[]).is_ok());
        assert!(check_target(Path::new("/dev/null"), true, &[]).unwrap_err().to_string().contains("regular"));
        assert!(check_target(d.path(), true, &[]).is_err());
        assert!(check_target(&d.path().join("missing/x.mp4"), false, &[]).unwrap_err().to_string().contains("does not exist"));
        let link = d.path().join("link.mp4");
        std::os::unix::fs::symlink(d.path().join("nowhere"), &link).unwrap();
        assert!(check_target(&link, true, &[]).unwrap_err().to_string().contains("symbolic"));
    }

    #[test]
    fn stale_temps_of_dead_runs_are_removed() {
        let d = tempfile::tempdir().unwrap();
        // PID 0 never names a live process here; another machine's files are left alone.
        let stale = d.path().join(format!(".out.deeplens-{}-0-00000000deadbeef.tmp.mp4", host()));
        let other = d.path().join(".out.deeplens-elsewhere-0-00000000deadbeef.tmp.mp4");
        std::fs::write(&other, b"partial").unwrap();
        std::fs::write(&stale, b"partial").unwrap();
        let mine = TempOutput::new(&d.path().join("out.mp4"), false).unwrap();
        assert!(!stale.exists());
        assert!(other.exists());
        assert!(mine.tmp.exists());
    }
}
