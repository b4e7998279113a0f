//! Depth networks in ONNX form: the project's own (`models/depth.onnx`) and standard relative
//! depth models such as Depth Anything V2 or MiDaS.
//!
//! The project's models declare their contract in ONNX metadata (`deeplens.kind = depth`,
//! `deeplens.input_multiple`, `deeplens.input_long_side`) and take RGB in [0, 1]. A model without
//! that metadata is treated as a standard one: ImageNet mean/std normalisation, its fixed input
//! size if it has one, else 448×448 (a multiple of both 14 and 32), and an output of relative
//! inverse depth, `[1,H,W]` or `[1,1,H,W]`.

use super::DepthModel;
use crate::frame::{Plane, RgbImage};
use crate::runtime::{self, LoadedModel, RuntimeOptions};
use anyhow::{anyhow, bail, Result};
use ndarray::Array4;
use ort::value::TensorRef;
use std::path::Path;

const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

#[derive(Clone, Copy, Debug)]
enum InputSize {
    /// Keep the aspect ratio, long side near `long`, both sides multiples of `multiple`.
    Aspect { long: usize, multiple: usize },
    Fixed { width: usize, height: usize },
}

pub struct OnnxDepth {
    model: LoadedModel,
    input: String,
    output: String,
    size: InputSize,
    imagenet: bool,
}

impl OnnxDepth {
    pub fn load(path: &Path, opts: &RuntimeOptions) -> Result<Self> {
        let model = runtime::load_model(path, opts)?;
        let s = &model.session;
        let inputs = s.inputs();
        let outputs = s.outputs();
        if inputs.len() != 1 {
            bail!("{} is not a depth model: it takes {} inputs (expected one image tensor [1,3,H,W])", path.display(), inputs.len());
        }
        let shape = inputs[0].dtype().tensor_shape().map(|s| s.to_vec());
        let Some(shape) = shape.filter(|s| s.len() == 4 && (s[1] == 3 || s[1] == -1)) else {
            bail!("{} is not a depth model: its input '{}' is not an image tensor [1,3,H,W]", path.display(), inputs[0].name());
        };
        if outputs.is_empty() {
            bail!("{} has no outputs", path.display());
        }
        let output = outputs.iter().find(|o| o.name() == "depth").unwrap_or(&outputs[0]).name().to_string();
        let ours = runtime::metadata(s, "deeplens.kind").as_deref() == Some("depth");
        let size = if shape[2] > 0 && shape[3] > 0 {
            InputSize::Fixed { width: shape[3] as usize, height: shape[2] as usize }
        } else if ours {
            let multiple = runtime::metadata(s, "deeplens.input_multiple").and_then(|v| v.parse().ok()).unwrap_or(32);
            let long = runtime::metadata(s, "deeplens.input_long_side").and_then(|v| v.parse().ok()).unwrap_or(256);
            InputSize::Aspect { long, multiple }
        } else {
            InputSize::Fixed { width: 448, height: 448 }
        };
        let input = inputs[0].name().to_string();
        tracing::info!(model = %path.display(), ?size, imagenet = !ours, provider = model.provider, "depth model ready");
        Ok(Self { model, input, output, size, imagenet: !ours })
    }

    pub fn provider(&self) -> &'static str {
        self.model.provider
    }

    fn input_size(&self, w: usize, h: usize) -> (usize, usize) {
        match self.size {
            InputSize::Fixed { width, height } => (width, height),
            InputSize::Aspect { long, multiple } => {
                let s = long as f64 / w.max(h) as f64;
                let r = |v: usize| (((v as f64 * s) / multiple as f64).round() as usize).max(1) * multiple;
                (r(w), r(h))
            }
        }
    }
}

impl DepthModel for OnnxDepth {
    fn name(&self) -> String {
        self.model.path.display().to_string()
    }

    fn predict(&mut self, rgb: &RgbImage) -> Result<Plane> {
        let (iw, ih) = self.input_size(rgb.width, rgb.height);
        let small = rgb.resize(iw, ih);
        let mut t = Array4::<f32>::zeros((1, 3, ih, iw));
        for y in 0..ih {
            for x in 0..iw {
                let p = small.pixel(x, y);
                for c in 0..3 {
                    t[[0, c, y, x]] = if self.imagenet { (p[c] - IMAGENET_MEAN[c]) / IMAGENET_STD[c] } else { p[c] };
                }
            }
        }
        let input = TensorRef::from_array_view(&t).map_err(|e| anyhow!("{e}"))?;
        let outputs = self
            .model
            .session
            .run(ort::inputs![self.input.as_str() => input])
            .map_err(|e| anyhow!("depth model failed: {e}"))?;
        let (shape, data) = outputs[self.output.as_str()].try_extract_tensor::<f32>().map_err(|e| anyhow!("depth output: {e}"))?;
        let dims: Vec<i64> = shape.iter().copied().collect();
        let (oh, ow) = match dims.as_slice() {
            [_, _, h, w] | [_, h, w] => (*h as usize, *w as usize),
            [h, w] => (*h as usize, *w as usize),
            _ => bail!("depth output has shape {dims:?}; expected [1,1,H,W] or [1,H,W]"),
        };
        let mut plane = Plane { width: ow, height: oh, data: data[..ow * oh].to_vec() };
        plane.data.iter_mut().for_each(|v| {
            if !v.is_finite() {
                *v = 0.0
            }
        });
        plane.normalise_min_max();
        Ok(plane)
    }
}
