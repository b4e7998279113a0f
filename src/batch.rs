//! `convert INPUT_DIR OUTPUT_DIR`: every video of a folder (recursively with `-r`), one failing
//! file not stopping the rest, a summary at the end.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// The default `--output-pattern`.
pub const DEFAULT_PATTERN: &str = "{stem}-dof.{ext}";

/// Check an output pattern: `{stem}` (the input's name without extension), `{ext}` (its
/// extension) and `{name}` (its whole name); `{stem}` or `{name}` must appear; no folders.
pub fn check_pattern(p: &str) -> Result<()> {
    if p.contains('/') || p.contains('\\') {
        bail!("--output-pattern '{p}': a file name, without folders");
    }
    let mut rest = p;
    while let Some(i) = rest.find('{') {
        let Some(j) = rest[i..].find('}') else { bail!("--output-pattern '{p}': an unclosed '{{'") };
        let key = &rest[i + 1..i + j];
        if !matches!(key, "stem" | "ext" | "name") {
            bail!("--output-pattern '{p}': unknown placeholder {{{key}}} (use {{stem}}, {{ext}}, {{name}})");
        }
        rest = &rest[i + j + 1..];
    }
    if !p.contains("{stem}") && !p.contains("{name}") {
        bail!("--output-pattern '{p}': needs {{stem}} or {{name}}, or every input would write the same file");
    }
    Ok(())
}

/// The output name of `input` under `pattern`.
pub fn output_name(pattern: &str, input: &Path) -> String {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = input.extension().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "mp4".into());
    let name = input.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    pattern.replace("{stem}", &stem).replace("{ext}", &ext).replace("{name}", &name)
}

/// The videos under `dir` (sorted; into subfolders with `recursive`), as paths relative to it.
pub fn find_videos(dir: &Path, recursive: bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let rd = std::fs::read_dir(dir.join(&rel)).map_err(|e| anyhow::anyhow!("cannot read folder {}: {e}", dir.join(&rel).display()))?;
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let r = rel.join(e.file_name());
            if ft.is_dir() {
                if recursive && !e.file_name().to_string_lossy().starts_with('.') {
                    stack.push(r);
                }
            } else if ft.is_file() {
                let ext = r.extension().map(|x| x.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
                if crate::still::VIDEO_EXTENSIONS.contains(&ext.as_str()) && !e.file_name().to_string_lossy().starts_with('.') {
                    out.push(r);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// How a batch went.
#[derive(Default, Debug)]
pub struct Summary {
    pub converted: Vec<PathBuf>,
    pub skipped: Vec<PathBuf>,
    pub failed: Vec<(PathBuf, String)>,
    pub cancelled: bool,
}

/// Convert each input with `convert_one(input, output)`; outputs that exist are skipped unless
/// `overwrite`; a failure is reported and the batch goes on.
pub fn run(
    input_dir: &Path,
    output_dir: &Path,
    pattern: &str,
    recursive: bool,
    overwrite: bool,
    cancelled: &dyn Fn() -> bool,
    mut convert_one: impl FnMut(&Path, &Path) -> Result<bool>,
) -> Result<Summary> {
    check_pattern(pattern)?;
    let videos = find_videos(input_dir, recursive)?;
    if videos.is_empty() {
        bail!("{}: no videos found{}", input_dir.display(), if recursive { "" } else { " (-r looks into subfolders)" });
    }
    let mut s = Summary::default();
    let n = videos.len();
    for (i, rel) in videos.iter().enumerate() {
        if cancelled() {
            s.cancelled = true;
            break;
        }
        let input = input_dir.join(rel);
        let out_dir = output_dir.join(rel.parent().unwrap_or(Path::new("")));
        let output = out_dir.join(output_name(pattern, rel));
        if output.exists() && !overwrite {
            eprintln!("deeplens: [{}/{n}] {}: {} exists, skipped (-y replaces it)", i + 1, input.display(), output.display());
            s.skipped.push(input);
            continue;
        }
        eprintln!("deeplens: [{}/{n}] {} → {}", i + 1, input.display(), output.display());
        let res = std::fs::create_dir_all(&out_dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out_dir.display())).and_then(|_| convert_one(&input, &output));
        match res {
            Ok(true) => s.converted.push(input),
            Ok(false) => {
                s.cancelled = true;
                s.failed.push((input, "interrupted".into()));
                break;
            }
            Err(e) => {
                let msg = format!("{e:#}");
                eprintln!("deeplens: error: {}: {msg}", input.display());
                s.failed.push((input, msg));
            }
        }
    }
    eprintln!(
        "deeplens: batch: {} converted, {} skipped, {} failed{}",
        s.converted.len(),
        s.skipped.len(),
        s.failed.len(),
        if s.cancelled { ", interrupted" } else { "" }
    );
    for (p, e) in &s.failed {
        eprintln!("deeplens:   failed: {}: {e}", p.display());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(check_pattern(DEFAULT_PATTERN).is_ok());
        assert!(check_pattern("{name}.dof.mkv").is_ok());
        assert!(check_pattern("x.mp4").is_err());
        assert!(check_pattern("{stem}/{ext}").is_err());
        assert!(check_pattern("{stem}.{size}").is_err());
        assert_eq!(output_name(DEFAULT_PATTERN, Path::new("a/clip.mov")), "clip-dof.mov");
        assert_eq!(output_name("{stem}.mkv", Path::new("clip.mp4")), "clip.mkv");
    }
}
