//! `image`: the same stages for one still picture.

use crate::config::RenderOptions;
use crate::focus::Rotation;
use crate::frame::{Plane, RgbImage};
use crate::outfile::TempOutput;
use crate::pipeline::{Job, StageTimes};
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

pub struct StillJob {
    pub input: PathBuf,
    pub output: PathBuf,
    pub overwrite: bool,
    pub render: RenderOptions,
    pub models: deeplens_onnx::OnnxModels,
    pub save_depth: Option<PathBuf>,
    /// `--report FILE.json` and the resolved options with their sources.
    pub report: Option<(PathBuf, serde_json::Value)>,
    /// Set by Ctrl-C: the still stops before its next stage and writes nothing.
    pub cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// File extensions taken as videos (a still refuses them; a batch converts them).
pub(crate) const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "mxf", "ts", "mts", "m2ts", "mpg", "mpeg", "flv", "wmv", "3gp", "ogv", "nut", "y4m",
];

fn has_video_extension(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Decode a picture file, refusing one larger than deeplens takes (see
/// `deeplens_core::frame::MAX_SIDE`) from its header, before decoding it.
fn decode_bounded(path: &Path, what: &str, unreadable: &str) -> Result<image::DynamicImage> {
    use image::ImageDecoder;
    let not_a_picture = |e: image::ImageError| anyhow!("{}: {unreadable} ({e})", path.display());
    let decoder = image::ImageReader::open(path)
        .with_context(|| format!("{}: cannot open", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("{}: cannot read", path.display()))?
        .into_decoder()
        .map_err(not_a_picture)?;
    let (w, h) = decoder.dimensions();
    deeplens_core::frame::check_size(&path.display().to_string(), what, w, h)?;
    image::DynamicImage::from_decoder(decoder).map_err(not_a_picture)
}

/// Read a picture, with errors that say what is wrong.
pub fn load_rgb(path: &Path) -> Result<(RgbImage, bool)> {
    if !path.exists() {
        bail!("{}: no such file", path.display());
    }
    if has_video_extension(path) {
        bail!("{} is a video; use `deeplens convert`", path.display());
    }
    let img = decode_bounded(path, "the picture", "not a picture this program can read")?;
    let deep = matches!(img.color(), image::ColorType::Rgb16 | image::ColorType::Rgba16 | image::ColorType::L16 | image::ColorType::La16 | image::ColorType::Rgb32F | image::ColorType::Rgba32F);
    let (w, h) = (img.width() as usize, img.height() as usize);
    if deep {
        let v = img.to_rgb16();
        Ok((RgbImage::from_rgb16(w, h, v.as_raw()), true))
    } else {
        let v = img.to_rgb8();
        Ok((RgbImage::from_rgb8(w, h, v.as_raw()), false))
    }
}

/// Read a grey depth picture (8 or 16 bit; normalised disparity, 1 = nearest).
pub fn load_depth(path: &Path) -> Result<Plane> {
    if !path.exists() {
        bail!("depth {}: no such file", path.display());
    }
    let img = decode_bounded(path, "the depth picture", "not a picture").map_err(|e| anyhow!("depth {e}"))?;
    let g = img.to_luma16();
    Ok(crate::depth::plane_from_gray16(g.width() as usize, g.height() as usize, g.as_raw()))
}

pub fn save_rgb(img: &RgbImage, path: &Path, deep: bool) -> Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).unwrap_or_default();
    let fmt = image::ImageFormat::from_extension(&ext).ok_or_else(|| anyhow!("{}: unknown picture format for this extension (use .png, .jpg, .tif …)", path.display()))?;
    let (w, h) = (img.width as u32, img.height as u32);
    if fmt == image::ImageFormat::Png {
        // Fast deflate: a PNG written for the next tool in the chain, not for the archive.
        use image::ImageEncoder;
        let file = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?);
        let enc = image::codecs::png::PngEncoder::new_with_quality(file, image::codecs::png::CompressionType::Fast, image::codecs::png::FilterType::Adaptive);
        let res = if deep {
            let words = img.to_rgb16();
            let bytes: Vec<u8> = words.iter().flat_map(|v| v.to_ne_bytes()).collect();
            enc.write_image(&bytes, w, h, image::ExtendedColorType::Rgb16)
        } else {
            enc.write_image(&img.to_rgb8(), w, h, image::ExtendedColorType::Rgb8)
        };
        return res.map_err(|e| anyhow!("cannot write {}: {e}", path.display()));
    }
    let res = if deep && matches!(fmt, image::ImageFormat::Tiff) {
        image::ImageBuffer::<image::Rgb<u16>, _>::from_raw(w, h, img.to_rgb16()).expect("size").save_with_format(path, fmt)
    } else {
        image::RgbImage::from_raw(w, h, img.to_rgb8()).expect("size").save_with_format(path, fmt)
    };
    res.map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}

pub fn save_depth(depth: &Plane, path: &Path) -> Result<()> {
    let buf = image::ImageBuffer::<image::Luma<u16>, _>::from_raw(depth.width as u32, depth.height as u32, crate::depth::plane_to_gray16(depth)).expect("size");
    buf.save_with_format(path, image::ImageFormat::Png).map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}

pub fn render_still(job: StillJob) -> Result<StageTimes> {
    let (rgb, deep) = load_rgb(&job.input)?;
    let mut inputs: Vec<&Path> = vec![&job.input];
    if let Some(d) = &job.render.depth_given {
        inputs.push(d);
    }
    crate::outfile::check_target(&job.output, job.overwrite, &inputs)?;
    if let Some(p) = &job.save_depth {
        crate::outfile::check_target(p, job.overwrite, &inputs).context("--save-depth")?;
        if p == &job.output {
            bail!("--save-depth {} is OUTPUT too", p.display());
        }
    }
    let ext = job.output.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    if image::ImageFormat::from_extension(&ext).is_none() {
        if VIDEO_EXTENSIONS.contains(&ext.as_str()) {
            bail!("{}: `image` writes pictures; use `deeplens convert` for video", job.output.display());
        }
        bail!("{}: unknown picture format for this extension (use .png, .jpg, .tif …)", job.output.display());
    }
    if let Some((p, _)) = &job.report {
        crate::outfile::check_target(p, job.overwrite, &inputs).context("--report")?;
    }
    let given = match &job.render.depth_given {
        Some(p) => Some(load_depth(p)?),
        None => None,
    };
    let mut stages = job.render.build_stages(&job.models, rgb.width, Rotation(0), deep)?;
    let models_used = crate::convert::models_used(&job.render, &stages);
    let (in_w, in_h) = (rgb.width, rgb.height);
    let mut j = Job::new(0, 0, 0.0, rgb);
    j.given_depth = given;
    let mut times = StageTimes::default();
    let j = stages.process_until(j, &mut times, &job.cancel)?;
    let out = TempOutput::new(&job.output, job.overwrite)?;
    save_rgb(&j.output.rgb(), &out.tmp, deep).map_err(|e| anyhow!("{e:#}").context(format!("cannot write {}", job.output.display())))?;
    out.commit()?;
    if let Some(p) = &job.save_depth {
        let d = &j.depth;
        let d = if (d.width, d.height) != (j.full.width, j.full.height) { d.resize(j.full.width, j.full.height) } else { d.clone() };
        let tmp = TempOutput::new(p, job.overwrite)?;
        save_depth(&d, &tmp.tmp)?;
        tmp.commit()?;
    }
    if let Some((path, options)) = &job.report {
        let picture = |p: &Path| serde_json::json!({"path": crate::report::abs(p), "codec": p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()), "width": in_w, "height": in_h, "frames": 1});
        crate::report::Report {
            command: "image",
            input: picture(&job.input),
            output: picture(&job.output),
            options: options.clone(),
            models: models_used,
            stages: crate::report::stage_medians(&times),
            frames_dropped: 0,
            cancelled: false,
        }
        .write(path, job.overwrite)?;
    }
    Ok(times)
}
