//! What `convert` (and `preview --headless`) writes beside the video for other tools: the depth
//! the renderer used and the in-focus matte, as a 16-bit grey video or an image sequence
//! (16-bit PNG, or OpenEXR float with the compositing channel names); and ffmpeg-style
//! machine-readable progress.

use crate::outfile::TempOutput;
use anyhow::{bail, Context, Result};
use deeplens_core::frame::Plane;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which plane an export holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaneKind {
    /// The stabilised depth (normalised disparity, larger = nearer; `invert`: 1 − it, larger = farther).
    Depth { invert: bool },
    /// 1 where a pixel's blur radius is under half a pixel, falling smoothly to 0 at two pixels.
    Matte,
}

impl PlaneKind {
    fn what(self) -> &'static str {
        match self {
            PlaneKind::Depth { .. } => "--write-depth",
            PlaneKind::Matte => "--write-matte",
        }
    }

    /// The EXR channel name: the compositing conventions for depth and for a matte.
    fn exr_channel(self) -> &'static str {
        match self {
            PlaneKind::Depth { .. } => "depth.Z",
            PlaneKind::Matte => "A",
        }
    }
}

/// The in-focus matte of a pixel whose circle of confusion has radius `r` output pixels.
pub fn matte_of_radius(r: f32) -> f32 {
    let t = ((2.0 - r) / 1.5).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// A `printf` frame-number pattern (`%d`, `%05d`) split around the number: (before, width, after).
fn split_pattern(s: &str) -> Result<Option<(String, usize, String)>> {
    let mut found = None;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if b.get(i + 1) == Some(&b'%') {
                i += 2;
                continue;
            }
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if b.get(j) != Some(&b'd') || j - i - 1 > 2 {
                bail!("'{s}': a frame-number pattern is %d or %0Nd (N up to 9), and '%%' for a percent sign");
            }
            if found.is_some() {
                bail!("'{s}': more than one frame-number pattern");
            }
            let width: usize = if j > i + 1 { s[i + 1..j].parse().unwrap_or(0) } else { 0 };
            if width > 9 {
                bail!("'{s}': a frame-number width of at most 9");
            }
            found = Some((s[..i].replace("%%", "%"), width, s[j + 1..].replace("%%", "%")));
            i = j + 1;
            continue;
        }
        i += 1;
    }
    Ok(found)
}

enum Target {
    /// A 16-bit grey video (FFV1), written under a temporary name.
    Video { temp: TempOutput, writer: Option<crate::video::GreyWriter>, time_base: crate::video::ffmpeg::Rational, frame_rate: crate::video::ffmpeg::Rational },
    /// One file per frame.
    Sequence { before: String, width: usize, after: String, exr: bool, written: Vec<PathBuf> },
}

/// One side output (depth or matte), checked before any work starts, removed if the run fails.
pub struct PlaneExport {
    kind: PlaneKind,
    target: Target,
    overwrite: bool,
    committed: bool,
}

impl PlaneExport {
    /// Check `path` (a video file, or a `%05d` pattern ending .png or .exr) and get ready.
    pub fn new(path: &Path, kind: PlaneKind, overwrite: bool, inputs: &[&Path], time_base: crate::video::ffmpeg::Rational, frame_rate: crate::video::ffmpeg::Rational) -> Result<Self> {
        let what = kind.what();
        let text = path.to_str().with_context(|| format!("{what} {}: the path is not UTF-8", path.display()))?;
        let target = match split_pattern(text).with_context(|| what.to_string())? {
            Some((before, width, after)) => {
                let lower = after.to_ascii_lowercase();
                let exr = match (lower.ends_with(".png"), lower.ends_with(".exr")) {
                    (true, _) => false,
                    (_, true) => true,
                    _ => bail!("{what} {text}: an image sequence is .png (16-bit) or .exr (float)"),
                };
                let first = PathBuf::from(format!("{before}{:0width$}{after}", 0));
                crate::outfile::check_target(&first, overwrite, inputs).with_context(|| what.to_string())?;
                Target::Sequence { before, width, after, exr, written: Vec::new() }
            }
            None => {
                match path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).as_deref() {
                    Some("mkv" | "mka" | "nut" | "avi" | "mov") => {}
                    Some("png" | "exr") => bail!("{what} {text}: a single picture cannot hold every frame; use a pattern such as depth_%05d.{}", path.extension().unwrap().to_string_lossy()),
                    _ => bail!("{what} {text}: a 16-bit grey video needs .mkv (FFV1 in Matroska), or a .png/.exr pattern such as depth_%05d.png"),
                }
                crate::outfile::check_target(path, overwrite, inputs).with_context(|| what.to_string())?;
                Target::Video { temp: TempOutput::new(path, overwrite).with_context(|| what.to_string())?, writer: None, time_base, frame_rate }
            }
        };
        Ok(Self { kind, target, overwrite, committed: false })
    }

    /// The plane of one frame from its depth at the output's size: the depth, or the matte from
    /// the depth, focus and blur (`blur_px`: the radius where |D − d_f| = 1, output pixels).
    pub fn plane(&self, depth: &Plane, focus: f32, blur_px: f32) -> Plane {
        let mut p = depth.clone();
        match self.kind {
            PlaneKind::Depth { invert } => {
                if invert {
                    p.data.iter_mut().for_each(|v| *v = 1.0 - *v);
                }
            }
            PlaneKind::Matte => p.data.iter_mut().for_each(|v| *v = matte_of_radius(blur_px * (*v - focus).abs())),
        }
        p
    }

    /// Write frame `index` (timestamp `pts` in the input's time base).
    pub fn write(&mut self, index: u64, pts: i64, plane: &Plane) -> Result<()> {
        let what = self.kind.what();
        match &mut self.target {
            Target::Video { temp, writer, time_base, frame_rate } => {
                if writer.is_none() {
                    *writer = Some(crate::video::GreyWriter::new(&temp.tmp, plane.width, plane.height, *time_base, *frame_rate).with_context(|| what.to_string())?);
                }
                writer.as_mut().expect("opened above").write(plane, pts).with_context(|| what.to_string())?;
            }
            Target::Sequence { before, width, after, exr, written } => {
                let path = PathBuf::from(format!("{before}{index:0w$}{after}", w = *width));
                crate::outfile::check_target(&path, self.overwrite, &[]).with_context(|| what.to_string())?;
                let t = TempOutput::new(&path, self.overwrite).with_context(|| what.to_string())?;
                if *exr {
                    write_exr(&t.tmp, plane, self.kind.exr_channel()).with_context(|| format!("{what}: cannot write {}", path.display()))?;
                } else {
                    let img = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_raw(plane.width as u32, plane.height as u32, deeplens_core::depth::plane_to_gray16(plane)).expect("sizes agree");
                    img.save_with_format(&t.tmp, image::ImageFormat::Png).with_context(|| format!("{what}: cannot write {}", path.display()))?;
                }
                t.commit()?;
                written.push(path);
            }
        }
        Ok(())
    }

    /// Finish the file (a video) and keep what was written.
    pub fn commit(mut self) -> Result<()> {
        let what = self.kind.what();
        if let Target::Video { temp, writer, .. } = std::mem::replace(&mut self.target, Target::Sequence { before: String::new(), width: 0, after: String::new(), exr: false, written: Vec::new() }) {
            if let Some(w) = writer {
                w.finish().with_context(|| what.to_string())?;
            }
            temp.commit()?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for PlaneExport {
    fn drop(&mut self) {
        // A failed run leaves no partial sequence (a video's temporary file goes with its TempOutput).
        if !self.committed {
            if let Target::Sequence { written, .. } = &self.target {
                for p in written {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
    }
}

fn check_folder(path: &Path, what: &str) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        bail!("{what} {}: folder {} does not exist", path.display(), dir.display());
    }
    Ok(())
}

/// One float channel named `channel`.
fn write_exr(path: &Path, plane: &Plane, channel: &str) -> Result<()> {
    use exr::prelude::*;
    let (w, h) = (plane.width, plane.height);
    let data = &plane.data;
    let channels = SpecificChannels::build().with_channel(channel).with_pixel_fn(|pos: Vec2<usize>| (data[pos.y() * w + pos.x()],));
    let image = Image::from_channels((w, h), channels);
    image.write().to_file(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// ffmpeg's `-progress`: blocks of `key=value` lines, at most twice a second, the last one with
/// `progress=end`.
pub struct Progress {
    out: Box<dyn Write + Send>,
    start: Instant,
    last: Option<Instant>,
}

impl Progress {
    /// `pipe:1` (stdout; refused when the video goes to stdout) or a file (a FIFO is fine; an
    /// existing regular file needs `-y`).
    pub fn open(target: &str, video_to_stdout: bool, overwrite: bool) -> Result<Self> {
        let out: Box<dyn Write + Send> = match target {
            "pipe:1" | "-" => {
                if video_to_stdout {
                    bail!("--progress pipe:1: stdout carries the video; give a file");
                }
                Box::new(std::io::stdout())
            }
            "pipe:2" => Box::new(std::io::stderr()),
            path => {
                let p = Path::new(path);
                if p.is_file() && !overwrite {
                    bail!("--progress: {path} exists; pass -y/--overwrite to replace it");
                }
                check_folder(p, "--progress")?;
                Box::new(std::fs::File::create(p).with_context(|| format!("--progress: cannot write {path}"))?)
            }
        };
        Ok(Self { out, start: Instant::now(), last: None })
    }

    /// After each frame: `frames` done, `out_seconds` of output written. Writes a block when half
    /// a second has passed since the last.
    pub fn frame(&mut self, frames: u64, out_seconds: f64) {
        let now = Instant::now();
        if self.last.is_some_and(|l| now.duration_since(l).as_secs_f64() < 0.5) {
            return;
        }
        self.last = Some(now);
        self.block(frames, out_seconds, false);
    }

    /// The final block.
    pub fn end(&mut self, frames: u64, out_seconds: f64) {
        self.block(frames, out_seconds, true);
    }

    fn block(&mut self, frames: u64, out_seconds: f64, end: bool) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let us = (out_seconds.max(0.0) * 1e6).round() as u64;
        let text = format!(
            "frame={frames}\nfps={:.2}\nout_time_us={us}\nout_time_ms={us}\nout_time={:02}:{:02}:{:02}.{:06}\nspeed={:.3}x\nprogress={}\n",
            frames as f64 / secs,
            us / 3_600_000_000,
            us / 60_000_000 % 60,
            us / 1_000_000 % 60,
            us % 1_000_000,
            out_seconds / secs,
            if end { "end" } else { "continue" }
        );
        // A reader that went away must not stop the conversion.
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(split_pattern("d_%05d.png").unwrap(), Some(("d_".into(), 5, ".png".into())));
        assert_eq!(split_pattern("d%d.exr").unwrap(), Some(("d".into(), 0, ".exr".into())));
        assert_eq!(split_pattern("100%%_%03d.png").unwrap(), Some(("100%_".into(), 3, ".png".into())));
        assert_eq!(split_pattern("depth.mkv").unwrap(), None);
        assert!(split_pattern("a%s.png").is_err());
        assert!(split_pattern("a%d_%d.png").is_err());
        assert!(split_pattern("a%123d.png").is_err());
    }

    #[test]
    fn matte_is_one_in_focus_and_zero_past_two_pixels() {
        assert_eq!(matte_of_radius(0.0), 1.0);
        assert_eq!(matte_of_radius(0.5), 1.0);
        assert_eq!(matte_of_radius(2.0), 0.0);
        assert_eq!(matte_of_radius(5.0), 0.0);
        let m = matte_of_radius(1.25);
        assert!((m - 0.5).abs() < 1e-6);
        assert!(matte_of_radius(1.0) > matte_of_radius(1.5));
    }
}
