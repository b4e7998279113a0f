//! The learned guided upsampling (paper §3.2.3, Eq. 3), run from `models/upsample.onnx`.
//!
//! Contract: inputs `guide` [1,3,2h,2w], `low_image` [1,3,h,w], `low_blur` [1,3,h,w],
//! `low_signed_depth` [1,1,h,w]; output `output` [1,3,2h,2w] = M_A⊙guide + M_L⊙up(low_blur),
//! with the weight maps predicted inside the network.

use deeplens_core::upsample::Upsampler;
use deeplens_core::frame::{Plane, RgbImage};
use deeplens_core::lens::LensParams;
use crate::tensor::{nchw_to_rgb, plane_to_nchw, rgb_to_nchw};
use crate::runtime::{self, LoadedModel, RuntimeOptions};
use deeplens_core::Result;
use ort::value::TensorRef;
use std::path::Path;

pub struct LearnedUpsampler {
    model: LoadedModel,
    r_max: f32,
}

impl LearnedUpsampler {
    pub fn load(path: &Path, opts: &RuntimeOptions) -> Result<Self> {
        let model = runtime::load_model(path, opts)?;
        let (ins, outs) = runtime::io_names(&model.session);
        for need in ["guide", "low_image", "low_blur", "low_signed_depth"] {
            if !ins.iter().any(|n| n == need) {
                deeplens_core::fail!(Model, "{} is not an upsampling model: input {need} missing (has {ins:?})", path.display());
            }
        }
        if !outs.iter().any(|n| n == "output") {
            deeplens_core::fail!(Model, "{} is not an upsampling model: output 'output' missing", path.display());
        }
        let r_max = runtime::metadata(&model.session, "deeplens.r_max").and_then(|v| v.parse().ok()).unwrap_or(16.0);
        Ok(Self { model, r_max })
    }
}

impl Upsampler for LearnedUpsampler {
    fn name(&self) -> &'static str {
        "learned"
    }

    fn provider(&self) -> Option<String> {
        Some(self.model.provider.to_string())
    }

    fn step(&mut self, guide: &RgbImage, low_input: &RgbImage, low_render: &RgbImage, low_depth: &Plane, p: &LensParams) -> Result<RgbImage> {
        let (lw, lh) = (low_render.width, low_render.height);
        // The network doubles exactly; a last odd-sized step goes through the doubled size.
        let (gw, gh) = (lw * 2, lh * 2);
        let g = if (guide.width, guide.height) != (gw, gh) { guide.resize(gw, gh) } else { guide.clone() };
        let li = if (low_input.width, low_input.height) != (lw, lh) { low_input.resize(lw, lh) } else { low_input.clone() };
        let ld = low_depth.resize(lw, lh);
        // Blur radius at the low level, relative to r_max, as the lens network sees it.
        let alpha = (p.max_blur * 0.5 / self.r_max).min(1.0);
        let out = self
            .model
            .session
            .run(ort::inputs![
                "guide" => TensorRef::from_array_view(&rgb_to_nchw(&g)).map_err(|e| deeplens_core::err!(Model, "{e}"))?,
                "low_image" => TensorRef::from_array_view(&rgb_to_nchw(&li)).map_err(|e| deeplens_core::err!(Model, "{e}"))?,
                "low_blur" => TensorRef::from_array_view(&rgb_to_nchw(low_render)).map_err(|e| deeplens_core::err!(Model, "{e}"))?,
                "low_signed_depth" => TensorRef::from_array_view(&plane_to_nchw(&ld, |d| (d - p.focus) * alpha)).map_err(|e| deeplens_core::err!(Model, "{e}"))?
            ])
            .map_err(|e| deeplens_core::err!(Model, "upsampling model failed: {e}"))?;
        let (_, data) = out["output"].try_extract_tensor::<f32>().map_err(|e| deeplens_core::err!(Model, "{e}"))?;
        let res = nchw_to_rgb(data, gw, gh);
        Ok(if (guide.width, guide.height) != (gw, gh) { res.resize(guide.width, guide.height) } else { res })
    }
}
