//! The learned lens blur (paper §3.2.1–3.2.2, Eq. 2), run from `models/lens.onnx`.
//!
//! Contract: inputs `image` [1,3,h,w] (RGB in [0,1]) and `signed_depth` [1,1,h,w] =
//! (D − d_f)·α with α = r / r_max; output `blur` [1,3,h,w]. The network was trained at the
//! largest radius r_max (metadata `deeplens.r_max`, working pixels); a smaller blur scales the
//! signed depth, as the paper controls the aperture. A model may render blurs above r_max at the
//! same size (metadata `deeplens.max_radius`, default r_max): it is then given signed depths
//! beyond ±1 (α up to max_radius / r_max) and handles them itself (ours: Eq. 2 on the depth
//! limited to ±1, the fusion head on the whole of it, see the training README); the pipeline
//! halves the working size only above max_radius.
//!
//! A lens model may take a third input, `physical` [1,3,h,w]: the physical renderer's picture of
//! the same frame with the same settings. Ours does (since issue 18's stop 34): its last layers
//! choose, per pixel, between Eq. 2's composition and that picture (see the training README).

use deeplens_core::lens::physical::PhysicalRenderer;
use deeplens_core::lens::{LensBlur, LensParams};
use deeplens_core::frame::{Plane, RgbImage};
use crate::tensor::{nchw_to_rgb, plane_to_nchw, rgb_to_nchw};
use crate::runtime::{self, LoadedModel, RuntimeOptions};
use deeplens_core::Result;
use ort::value::TensorRef;
use std::path::Path;

pub struct LearnedLens {
    model: LoadedModel,
    r_max: f32,
    /// The largest blur the model renders at its input size (≥ r_max).
    max_radius: f32,
    multiple: usize,
    /// Smallest side the network accepts (metadata `deeplens.min_side`: ours reflect-pads inside).
    min_side: usize,
    /// The physical renderer, for a model with a `physical` input.
    physical: Option<PhysicalRenderer>,
}

impl LearnedLens {
    pub fn load(path: &Path, opts: &RuntimeOptions) -> Result<Self> {
        let model = runtime::load_model(path, opts)?;
        let (ins, outs) = runtime::io_names(&model.session);
        if !(ins.iter().any(|n| n == "image") && ins.iter().any(|n| n == "signed_depth") && outs.iter().any(|n| n == "blur")) {
            deeplens_core::fail!(Model, "{} is not a lens blur model: expected inputs image, signed_depth and output blur (has {ins:?} → {outs:?})", path.display());
        }
        let r_max = runtime::metadata(&model.session, "deeplens.r_max").and_then(|v| v.parse::<f32>().ok()).filter(|r| r.is_finite() && *r > 0.0).ok_or_else(|| deeplens_core::err!(Model, "{}: metadata deeplens.r_max missing or not a positive radius", path.display()))?;
        let max_radius = match runtime::metadata(&model.session, "deeplens.max_radius") {
            None => r_max,
            Some(v) => v.parse::<f32>().ok().filter(|m| m.is_finite() && *m >= r_max).ok_or_else(|| deeplens_core::err!(Model, "{}: metadata deeplens.max_radius '{}' is not a radius of at least deeplens.r_max ({r_max})", path.display(), deeplens_core::printable(&v, 32)))?,
        };
        let multiple = runtime::metadata(&model.session, "deeplens.input_multiple").and_then(|v| v.parse().ok()).unwrap_or(1);
        let min_side = runtime::metadata(&model.session, "deeplens.min_side").and_then(|v| v.parse().ok()).unwrap_or(1);
        let physical = ins.iter().any(|n| n == "physical").then(PhysicalRenderer::new);
        Ok(Self { model, r_max, max_radius, multiple, min_side, physical })
    }
}

impl LensBlur for LearnedLens {
    fn name(&self) -> &'static str {
        "learned"
    }

    fn provider(&self) -> Option<String> {
        Some(self.model.provider.to_string())
    }

    fn max_radius(&self) -> Option<f32> {
        Some(self.max_radius)
    }

    fn render(&mut self, rgb: &RgbImage, depth: &Plane, p: &LensParams) -> Result<RgbImage> {
        let (w, h) = (rgb.width, rgb.height);
        let m = self.multiple.max(1);
        let (pw, ph) = (w.max(self.min_side).div_ceil(m) * m, h.max(self.min_side).div_ceil(m) * m);
        let (img, dep) = if (pw, ph) != (w, h) { (rgb.resize(pw, ph), depth.resize(pw, ph)) } else { (rgb.clone(), depth.clone()) };
        let alpha = p.max_blur.min(self.max_radius) / self.r_max;
        let image = rgb_to_nchw(&img);
        let signed = plane_to_nchw(&dep, |d| (d - p.focus) * alpha);
        let tensor = |a| TensorRef::from_array_view(a).map_err(|e| deeplens_core::err!(Model, "{e}"));
        let mut inputs = ort::inputs!["image" => tensor(&image)?, "signed_depth" => tensor(&signed)?];
        let physical = self.physical.as_mut().map(|r| r.render(&img, &dep, p)).transpose()?.map(|pic| rgb_to_nchw(&pic));
        if let Some(picture) = &physical {
            inputs.push(("physical".into(), tensor(picture)?.into()));
        }
        let out = self.model.session.run(inputs).map_err(|e| deeplens_core::err!(Model, "lens model failed: {e}"))?;
        let (_, data) = out["blur"].try_extract_tensor::<f32>().map_err(|e| deeplens_core::err!(Model, "{e}"))?;
        let res = nchw_to_rgb(data, pw, ph);
        Ok(if (pw, ph) != (w, h) { res.resize(w, h) } else { res })
    }
}
