//! Render settings shared by the front ends (`image`, `convert`, `bench`, `preview`), the
//! named presets in `pipelines/*.toml`, and the construction of [`Stages`] from them.
//!
//! Models are loaded through a [`ModelLoader`] the caller passes in (the ONNX crate has one),
//! so this crate knows which files a render needs, never how a network runs.

use crate::focus::{BlurAmount, FocusController, FocusSpec, Rotation};
use crate::lens::{physical::PhysicalRenderer, ApertureShape, LensBlur, LensParams};
use crate::pipeline::{DepthStage, Stages, WorkingPolicy};
use crate::upsample::{PhysicalUpsampler, Upsampler};
use crate::depth::{card::CardChoice, DepthModel};
use crate::{ErrorKind, Kind, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Which lens blur and upsampling to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RendererKind {
    /// The occlusion-aware renderer in linear light, with CoC-weighted guided upsampling.
    #[default]
    Physical,
    /// The paper's learned lens blur and guided upsampling networks (models/lens.onnx, models/upsample.onnx).
    Learned,
}

impl RendererKind {
    /// The name used on the command line, in presets and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Physical => "physical",
            Self::Learned => "learned",
        }
    }
}

/// Everything needed to build the stages.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    pub renderer: RendererKind,
    pub depth_model: Option<PathBuf>,
    /// How the depth model's card is chosen (`--depth-model-card`, `--depth-model-kind`).
    pub depth_card: crate::depth::card::CardChoice,
    /// A given depth picture or video instead of the model.
    pub depth_given: Option<PathBuf>,
    pub focus: FocusSpec,
    pub blur: BlurAmount,
    pub aperture: ApertureShape,
    pub cat_eye: f32,
    /// Extra gain for clipped highlights; `None`: 1 for 8-bit sources, 0 for deeper ones.
    pub highlight_boost: Option<f32>,
    pub focus_smoothing: Option<f32>,
    pub stabilize_depth: bool,
    /// Keep the per-frame focus history (for `--write-focus-track`).
    pub record_focus: bool,
    pub policy: WorkingPolicy,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            renderer: RendererKind::Physical,
            depth_model: None,
            depth_card: Default::default(),
            depth_given: None,
            focus: FocusSpec::default(),
            blur: BlurAmount::DEFAULT,
            aperture: ApertureShape::Circle,
            cat_eye: 0.0,
            highlight_boost: None,
            focus_smoothing: None,
            stabilize_depth: true,
            record_focus: false,
            policy: WorkingPolicy::default(),
        }
    }
}

/// A named preset: every field optional, explicit flags override it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub description: Option<String>,
    pub renderer: Option<RendererKind>,
    pub depth_model: Option<PathBuf>,
    pub max_blur: Option<String>,
    pub working_max_width: Option<usize>,
    pub working_max_radius: Option<f32>,
    pub aperture_blades: Option<u32>,
    pub aperture_rotation: Option<f32>,
    pub cat_eye: Option<f32>,
    pub highlight_boost: Option<f32>,
    pub focus_smoothing: Option<f32>,
    pub codec: Option<String>,
    pub crf: Option<f32>,
    pub preset: Option<String>,
    pub pix_fmt: Option<String>,
}

impl Preset {
    /// Load `pipelines/NAME.toml` (or a path to a TOML file).
    pub fn load(name: &str) -> Result<Self> {
        let path = if name.ends_with(".toml") || name.contains('/') {
            PathBuf::from(name)
        } else {
            find_project_file(&format!("pipelines/{name}.toml")).with_kind_context(Kind::Options, || {
                format!("unknown pipeline preset '{name}' (presets: {})", list_presets().join(", "))
            })?
        };
        let text = read_text_limited(&path, 1 << 20, "preset")?;
        toml::from_str(&text).map_err(|e| crate::err!(Options, "preset {}: {}", path.display(), e.message()))
    }
}

fn list_presets() -> Vec<String> {
    find_project_file("pipelines")
        .and_then(|d| std::fs::read_dir(d).ok())
        .map(|rd| {
            let mut v: Vec<String> = rd
                .flatten()
                .filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect();
            v.sort();
            v
        })
        .unwrap_or_default()
}

/// Find a file of the project (models, presets) from the binary's location
/// (`target/release/deeplens` → the checkout), or beside the binary; never from the current
/// directory, so a folder deeplens runs in cannot swap its models or presets.
pub fn find_project_file(rel: &str) -> Option<PathBuf> {
    let mut bases = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(d) = exe.parent() {
            bases.extend(d.ancestors().take(4).map(Path::to_path_buf));
        }
    }
    bases.into_iter().map(|b| b.join(rel)).find(|p| p.exists())
}

/// The most bytes of a text file deeplens reads (tracks, presets, plans, cards have their own
/// smaller limits where they say so).
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Read a text file of at most `limit` bytes; `what` names it in errors. Refuses what is not a
/// regular file (`/dev/zero`, a folder) before reading.
pub fn read_text_limited(path: &Path, limit: u64, what: &str) -> Result<String> {
    use std::io::Read;
    let md = std::fs::metadata(path).with_kind_context(Kind::Input, || format!("cannot read {what} {}", path.display()))?;
    if !md.is_file() {
        crate::fail!(Input, "{what} {}: not a regular file", path.display());
    }
    if md.len() > limit {
        crate::fail!(Input, "{what} {} is larger than the limit of {} KiB", path.display(), limit / 1024);
    }
    let f = std::fs::File::open(path).with_kind_context(Kind::Input, || format!("cannot read {what} {}", path.display()))?;
    let mut text = String::new();
    f.take(limit + 1).read_to_string(&mut text).with_kind_context(Kind::Input, || format!("cannot read {what} {} as UTF-8 text", path.display()))?;
    if text.len() as u64 > limit {
        crate::fail!(Input, "{what} {} is larger than the limit of {} KiB", path.display(), limit / 1024);
    }
    Ok(text)
}

/// The depth model to use when none is named.
pub fn default_depth_model() -> Option<PathBuf> {
    find_project_file("models/depth.onnx")
}

impl RenderOptions {
    /// Default highlight boost for 8-bit sources, whose highlights are clipped: measured on the
    /// thin-lens scenes it gives +2.4 dB over the frame (docs/lens-blur.md).
    pub const DEFAULT_BOOST_8BIT: f32 = 1.0;

    /// Build the stages for a picture `display_width` wide as displayed, stored with `rotation`;
    /// `high_bit_depth` sources get no highlight boost unless asked. Models come from `models`.
    pub fn build_stages(&self, models: &dyn ModelLoader, display_width: usize, rotation: Rotation, high_bit_depth: bool) -> Result<Stages> {
        let boost = self.highlight_boost.unwrap_or(if high_bit_depth { 0.0 } else { Self::DEFAULT_BOOST_8BIT });
        let depth: Option<Box<dyn DepthModel>> = if self.depth_given.is_some() {
            None
        } else {
            Some(self.load_depth_model(models)?)
        };
        let (lens, upsampler, policy) = self.renderers(models)?;
        let mut focus = FocusController::new(self.focus.clone(), self.blur, rotation).with_display_width(display_width).with_history(self.record_focus);
        if let Some(s) = self.focus_smoothing {
            focus = focus.with_smoothing(s);
        }
        Ok(Stages {
            depth: DepthStage {
                model: depth,
                focus,
                policy,
                lens_template: LensParams { focus: 0.5, max_blur: 0.0, aperture: self.aperture, cat_eye: self.cat_eye, highlight_boost: boost },
                display_width,
                stabilizer: self.stabilize_depth.then(crate::focus::DepthStabilizer::new),
            },
            lens,
            upsampler,
        })
    }

    fn load_depth_model(&self, models: &dyn ModelLoader) -> Result<Box<dyn DepthModel>> {
        let path = match &self.depth_model {
            Some(p) => {
                if !p.is_file() {
                    crate::fail!(Model, "depth model {}: no such file", p.display());
                }
                p.clone()
            }
            None => default_depth_model().kind_context(Kind::Model, "no depth model: models/depth.onnx not found (pass --depth-model FILE or --depth FILE)")?,
        };
        models.depth_model(&path, &self.depth_card)
    }

    fn renderers(&self, models: &dyn ModelLoader) -> Result<(Box<dyn LensBlur>, Box<dyn Upsampler>, WorkingPolicy)> {
        match self.renderer {
            RendererKind::Physical => Ok((Box::new(PhysicalRenderer::new()), Box::new(PhysicalUpsampler), self.policy)),
            RendererKind::Learned => {
                let (Some(lens), Some(up)) = (find_project_file("models/lens.onnx"), find_project_file("models/upsample.onnx")) else {
                    crate::fail!(Model, "--renderer learned needs models/lens.onnx and models/upsample.onnx, which are not trained yet; use --renderer physical");
                };
                let (lens, up) = models.learned(&lens, &up)?;
                let mut policy = self.policy;
                policy.max_radius = policy.max_radius.min(lens.max_radius().unwrap_or(f32::INFINITY));
                Ok((lens, up, policy))
            }
        }
    }
}

/// Loads the models a render needs; `deeplens-onnx` has one on ONNX Runtime.
pub trait ModelLoader {
    /// The depth network at `path`, its card chosen by `card`.
    fn depth_model(&self, path: &Path, card: &CardChoice) -> Result<Box<dyn DepthModel>>;
    /// The learned lens blur and guided upsampling networks.
    fn learned(&self, lens: &Path, upsample: &Path) -> Result<(Box<dyn LensBlur>, Box<dyn Upsampler>)>;
}
