//! Output files are written under a temporary name in the same folder (keeping the extension,
//! so formats are still guessed from it) and renamed on success: a failure never leaves a
//! partial file at the target.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// A file being written under a temporary name; removed unless kept.
pub struct TempOutput {
    pub tmp: PathBuf,
    target: PathBuf,
    keep: bool,
}

impl TempOutput {
    pub fn new(target: &Path) -> Result<Self> {
        let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            bail!("cannot write {}: folder {} does not exist", target.display(), dir.display());
        }
        let name = target.file_name().context("output path has no file name")?.to_string_lossy().into_owned();
        let (stem, ext) = match name.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
            _ => (name.clone(), String::new()),
        };
        let tmp = dir.join(format!(".{stem}.deeplens-{}.tmp{ext}", std::process::id()));
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", target.display()))?;
        Ok(Self { tmp, target: target.to_path_buf(), keep: false })
    }

    pub fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.target).with_context(|| format!("cannot move the result to {}", self.target.display()))?;
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

