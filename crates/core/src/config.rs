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

/// The render settings as given, before a preset fills the gaps: what the command line parses
/// into (the binary only parses), and what a library caller fills in. [`RenderOptions::resolve`]
/// turns it into checked options.
#[derive(Clone, Debug, Default)]
pub struct RenderFlags {
    pub renderer: Option<RendererKind>,
    pub depth_model: Option<PathBuf>,
    pub depth_model_card: Option<PathBuf>,
    pub depth_model_kind: Option<String>,
    /// A given depth picture or video instead of the model.
    pub depth: Option<PathBuf>,
    pub focus: Option<f32>,
    pub focus_at: Option<crate::focus::RelPoint>,
    pub autofocus: bool,
    pub focus_track: Option<PathBuf>,
    pub max_blur: Option<BlurAmount>,
    pub aperture_blades: Option<u32>,
    pub aperture_rotation: Option<f32>,
    pub cat_eye: Option<f32>,
    pub highlight_boost: Option<f32>,
    pub working_max_width: Option<usize>,
    pub focus_smoothing: Option<f32>,
    pub no_stabilize: bool,
}

impl RenderOptions {
    /// Flags over a preset over the defaults, checked ([`validate`](Self::validate)); a focus
    /// track is read and checked whole here, before any frame. Errors name the flag, as users
    /// see them.
    pub fn resolve(flags: &RenderFlags, preset: &Preset) -> Result<Self> {
        let f = flags;
        let mut o = RenderOptions { renderer: f.renderer.or(preset.renderer).unwrap_or_default(), ..Default::default() };
        o.depth_model = f.depth_model.clone().or(preset.depth_model.clone());
        o.depth_given = f.depth.clone();
        if let Some(k) = &f.depth_model_kind {
            crate::depth::card::DepthCard::builtin(k)?;
        }
        o.depth_card = CardChoice { file: f.depth_model_card.clone(), kind: f.depth_model_kind.clone() };
        o.focus = match (f.focus, f.focus_at, f.autofocus, &f.focus_track) {
            (Some(d), ..) => FocusSpec::Depth(d),
            (_, Some(p), ..) => FocusSpec::Point(p),
            (_, _, true, _) => FocusSpec::Autofocus,
            (_, _, _, Some(path)) => FocusSpec::Track(crate::focus::Track::from_path(path)?),
            _ => FocusSpec::default(),
        };
        o.blur = match (&f.max_blur, &preset.max_blur) {
            (Some(b), _) => *b,
            (None, Some(s)) => s.parse().map_err(|e| crate::err!(Options, "preset max_blur: {e}"))?,
            (None, None) => BlurAmount::DEFAULT,
        };
        let rotation_deg = f.aperture_rotation.or(preset.aperture_rotation).unwrap_or(0.0);
        // Checked even for a round aperture, where it has no effect: a NaN is a mistake either way.
        check_rotation(rotation_deg)?;
        o.aperture = match f.aperture_blades.or(preset.aperture_blades).unwrap_or(0) {
            0 => ApertureShape::Circle,
            blades => ApertureShape::Blades { blades, rotation_deg },
        };
        o.cat_eye = f.cat_eye.or(preset.cat_eye).unwrap_or(0.0);
        o.highlight_boost = f.highlight_boost.or(preset.highlight_boost);
        if let Some(w) = f.working_max_width.or(preset.working_max_width) {
            o.policy.max_width = w;
        }
        if let Some(r) = preset.working_max_radius {
            o.policy.max_radius = r;
        }
        o.focus_smoothing = f.focus_smoothing.or(preset.focus_smoothing);
        o.stabilize_depth = !f.no_stabilize;
        o.validate()?;
        Ok(o)
    }

    /// Every number in range and finite, in one place: [`resolve`](Self::resolve) and
    /// [`build_stages`](Self::build_stages) call it, so options built by hand are checked too.
    pub fn validate(&self) -> Result<()> {
        let fail = |msg: &str| Err(crate::err!(Options, "{msg}"));
        match self.focus {
            FocusSpec::Depth(d) if !(0.0..=1.0).contains(&d) => return fail("--focus must be in [0,1]"),
            FocusSpec::Point(p) if !(0.0..=1.0).contains(&p.x) || !(0.0..=1.0).contains(&p.y) => return fail("--focus-at must be X,Y with both in [0,1]"),
            _ => {}
        }
        if !self.blur.in_range() {
            return fail("--max-blur must be 0 to 1000 px or 0% to 25% of the width");
        }
        if let ApertureShape::Blades { blades, rotation_deg } = self.aperture {
            match blades {
                1 | 2 => return fail("--aperture-blades must be 0 (circle) or at least 3"),
                n if n > 32 => return fail("--aperture-blades must be at most 32"),
                _ => {}
            }
            check_rotation(rotation_deg)?;
        }
        if !(0.0..=1.0).contains(&self.cat_eye) {
            return fail("--cat-eye must be in [0,1]");
        }
        if self.highlight_boost.is_some_and(|b| !(0.0..=10.0).contains(&b)) {
            return fail("--highlight-boost must be in [0,10]");
        }
        if self.policy.max_width < 16 {
            return fail("--working-max-width must be at least 16");
        }
        if !(self.policy.max_radius.is_finite() && (1.0..=1000.0).contains(&self.policy.max_radius)) {
            return fail("working_max_radius must be in [1,1000] pixels");
        }
        if self.focus_smoothing.is_some_and(|s| !(0.0..=30.0).contains(&s)) {
            return fail("--focus-smoothing must be in [0,30] seconds");
        }
        Ok(())
    }
}

/// `--aperture-rotation`: finite, at most ten turns either way.
fn check_rotation(deg: f32) -> Result<()> {
    if !deg.is_finite() || deg.abs() > 3600.0 {
        return Err(crate::err!(Options, "--aperture-rotation must be a number of degrees in [-3600, 3600]"));
    }
    Ok(())
}

impl RenderOptions {
    /// Default highlight boost for 8-bit sources, whose highlights are clipped: measured on the
    /// thin-lens scenes it gives +2.4 dB over the frame (docs/lens-blur.md).
    pub const DEFAULT_BOOST_8BIT: f32 = 1.0;

    /// Build the stages for a picture `display_width` wide as displayed, stored with `rotation`;
    /// `high_bit_depth` sources get no highlight boost unless asked. Models come from `models`.
    pub fn build_stages(&self, models: &dyn ModelLoader, display_width: usize, rotation: Rotation, high_bit_depth: bool) -> Result<Stages> {
        self.validate()?;
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
            RendererKind::Physical => Ok((Box::new(PhysicalRenderer::new()), Box::new(PhysicalUpsampler::default()), self.policy)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<RenderOptions>) -> String {
        r.expect_err("refused").to_string()
    }

    #[test]
    fn flags_override_the_preset_which_overrides_the_defaults() {
        let preset = Preset { cat_eye: Some(0.3), aperture_blades: Some(6), working_max_width: Some(640), max_blur: Some("2%".into()), ..Default::default() };
        let flags = RenderFlags { cat_eye: Some(0.5), focus: Some(0.25), ..Default::default() };
        let o = RenderOptions::resolve(&flags, &preset).unwrap();
        assert_eq!(o.cat_eye, 0.5);
        assert!(matches!(o.aperture, ApertureShape::Blades { blades: 6, .. }));
        assert_eq!(o.policy.max_width, 640);
        assert!(matches!(o.blur, BlurAmount::WidthShare(s) if (s - 0.02).abs() < 1e-6));
        assert!(matches!(o.focus, FocusSpec::Depth(d) if d == 0.25));
        let d = RenderOptions::resolve(&RenderFlags::default(), &Preset::default()).unwrap();
        assert_eq!(d.cat_eye, 0.0);
        assert!(d.stabilize_depth);
    }

    #[test]
    fn out_of_range_values_are_typed_errors_with_the_flag_named() {
        let p = Preset::default();
        let r = |f: RenderFlags| RenderOptions::resolve(&f, &p);
        assert_eq!(msg(r(RenderFlags { aperture_blades: Some(2), ..Default::default() })), "--aperture-blades must be 0 (circle) or at least 3");
        assert_eq!(msg(r(RenderFlags { aperture_blades: Some(40), ..Default::default() })), "--aperture-blades must be at most 32");
        assert_eq!(
            msg(r(RenderFlags { aperture_blades: Some(6), aperture_rotation: Some(f32::NAN), ..Default::default() })),
            "--aperture-rotation must be a number of degrees in [-3600, 3600]"
        );
        assert_eq!(msg(r(RenderFlags { cat_eye: Some(f32::INFINITY), ..Default::default() })), "--cat-eye must be in [0,1]");
        assert_eq!(msg(r(RenderFlags { highlight_boost: Some(11.0), ..Default::default() })), "--highlight-boost must be in [0,10]");
        assert_eq!(msg(r(RenderFlags { working_max_width: Some(8), ..Default::default() })), "--working-max-width must be at least 16");
        assert_eq!(msg(r(RenderFlags { focus_smoothing: Some(f32::NAN), ..Default::default() })), "--focus-smoothing must be in [0,30] seconds");
        let e = RenderOptions::resolve(&RenderFlags::default(), &Preset { working_max_radius: Some(f32::NAN), ..Default::default() }).unwrap_err();
        assert_eq!(e.to_string(), "working_max_radius must be in [1,1000] pixels");
        assert_eq!(e.kind(), Kind::Options);
    }

    #[test]
    fn options_built_by_hand_are_checked_too() {
        let o = RenderOptions { focus: FocusSpec::Depth(1.5), ..Default::default() };
        assert_eq!(o.validate().unwrap_err().to_string(), "--focus must be in [0,1]");
        let o = RenderOptions { blur: BlurAmount::Pixels(f32::NAN), ..Default::default() };
        assert_eq!(o.validate().unwrap_err().to_string(), "--max-blur must be 0 to 1000 px or 0% to 25% of the width");
        assert!(RenderOptions::default().validate().is_ok());
    }
}
