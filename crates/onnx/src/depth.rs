//! Depth networks in ONNX form: the project's own (`models/depth.onnx`) and standard depth
//! models (Depth Anything V2, Video Depth Anything, MiDaS, TCMonoDepth …), each read by its
//! [`DepthCard`](super::card::DepthCard): how the picture becomes the input tensor and how the
//! output becomes normalised disparity. A model with a foreground output (`segmentation` in
//! ours) gives that map too.

use deeplens_core::depth::card::{CardChoice, DepthCard, FittedCard};
use deeplens_core::depth::{DepthModel, Prediction};
use deeplens_core::frame::{Plane, RgbImage};
use crate::runtime::{self, LoadedModel, RuntimeOptions};
use deeplens_core::Result;
use ort::value::TensorElementType;
use ort::value::{TensorRef, ValueType};
use std::path::Path;

pub struct OnnxDepth {
    model: LoadedModel,
    input: String,
    output: String,
    foreground: Option<String>,
    card: FittedCard,
}

impl OnnxDepth {
    /// Load a model, its card chosen as [`DepthCard::resolve`] says.
    pub fn load(path: &Path, choice: &CardChoice, opts: &RuntimeOptions) -> Result<Self> {
        let model = runtime::load_model(path, opts)?;
        let s = &model.session;
        let inputs = s.inputs();
        if inputs.len() != 1 {
            deeplens_core::fail!(Model, "{} is not a depth model: it takes {} inputs (expected one image tensor [1,3,H,W])", path.display(), inputs.len());
        }
        let input = inputs[0].name().to_string();
        let ValueType::Tensor { ty, shape, .. } = inputs[0].dtype() else {
            deeplens_core::fail!(Model, "{} is not a depth model: its input '{input}' is not a tensor", path.display());
        };
        let dims: Vec<i64> = shape.iter().copied().collect();
        if *ty != TensorElementType::Float32 {
            deeplens_core::fail!(Model, "{}: its input '{input}' holds {ty:?}; deeplens gives depth models float32 tensors", path.display());
        }
        let (card, source) = DepthCard::resolve(choice, path, |k| runtime::metadata(s, k), &dims)?;
        let card = card.fit(&input, &dims)?;
        let names: Vec<String> = s.outputs().iter().map(|o| o.name().to_string()).collect();
        let ranks: Vec<Option<usize>> = s.outputs().iter().map(|o| o.dtype().tensor_shape().map(|d| d.len())).collect();
        let pick = |wanted: &Option<String>, what: &str| -> Result<Option<String>> {
            match wanted {
                Some(n) if names.contains(n) => Ok(Some(n.clone())),
                Some(n) => deeplens_core::fail!(Model, "depth model card '{}': the model has no output '{n}' for {what} (outputs: {})", card.card.name, names.join(", ")),
                None => Ok(None),
            }
        };
        let output = match pick(&card.card.output_name, "depth")? {
            Some(n) => n,
            None => names
                .iter()
                .find(|n| *n == "depth")
                .or_else(|| names.iter().find(|n| *n != "segmentation"))
                .cloned()
                .ok_or_else(|| deeplens_core::err!(Model, "{} is not a depth model: it has no depth output", path.display()))?,
        };
        let foreground = pick(&card.card.foreground_output, "the foreground")?.or_else(|| names.iter().find(|n| *n == "segmentation" && **n != output).cloned());
        for (n, r) in names.iter().zip(&ranks) {
            if (*n == output || Some(n) == foreground.as_ref()) && r.is_some_and(|r| !(2..=5).contains(&r)) {
                deeplens_core::fail!(Model, "{}: its output '{n}' has {} dimensions; expected one map [1,1,H,W], [1,H,W] or [H,W]", path.display(), r.unwrap_or(0));
            }
        }
        tracing::info!(model = %path.display(), card = %card.card.name, from = %source, size = ?card.size, foreground = ?foreground, provider = model.provider, "depth model ready");
        Ok(Self { model, input, output, foreground, card })
    }

    pub fn provider(&self) -> &'static str {
        self.model.provider
    }

    /// The card in use, fitted to the model.
    pub fn card(&self) -> &FittedCard {
        &self.card
    }
}

/// One `H×W` map out of an output tensor: every other dimension must be 1.
fn output_plane(name: &str, dims: &[i64], data: &[f32]) -> Result<Plane> {
    let bad = || deeplens_core::err!(Model, "the depth model's output '{name}' has shape {dims:?}; expected one map [1,1,H,W], [1,H,W] or [H,W]");
    if !(2..=5).contains(&dims.len()) {
        return Err(bad());
    }
    // A trailing channel of 1 ([1,H,W,1]) is channels-last.
    let last = if dims.len() > 2 && dims[dims.len() - 1] == 1 { dims.len() - 1 } else { dims.len() };
    let (h, w) = (dims[last - 2], dims[last - 1]);
    if dims.iter().any(|d| *d <= 0) {
        deeplens_core::fail!(Model, "the depth model's output '{name}' is empty (shape {dims:?})");
    }
    let others: i64 = dims.iter().enumerate().filter(|(i, _)| *i != last - 2 && *i != last - 1).map(|(_, d)| *d).product();
    let (h, w) = (h as usize, w as usize);
    if others != 1 || data.len() != h * w {
        return Err(bad());
    }
    Ok(Plane { width: w, height: h, data: data.to_vec() })
}

impl DepthModel for OnnxDepth {
    fn name(&self) -> String {
        self.model.path.display().to_string()
    }

    fn provider(&self) -> Option<String> {
        Some(self.model.provider.to_string())
    }

    fn predict(&mut self, rgb: &RgbImage) -> Result<Plane> {
        Ok(self.predict_all(rgb)?.depth)
    }

    fn predict_all(&mut self, rgb: &RgbImage) -> Result<Prediction> {
        let (iw, ih) = self.card.input_size(rgb.width, rgb.height);
        let (shape, data) = self.card.tensor(&rgb.resize(iw, ih));
        let t = ndarray::ArrayD::from_shape_vec(shape, data).map_err(|e| deeplens_core::err!(Model, "{e}"))?;
        let input = TensorRef::from_array_view(&t).map_err(|e| deeplens_core::err!(Model, "{e}"))?;
        let outputs = self
            .model
            .session
            .run(ort::inputs![self.input.as_str() => input])
            .map_err(|e| deeplens_core::err!(Model, "depth model failed: {e}"))?;
        let read = |name: &str| -> Result<Plane> {
            let (shape, data) = outputs[name].try_extract_tensor::<f32>().map_err(|e| deeplens_core::err!(Model, "the depth model's output '{name}': {e}"))?;
            let dims: Vec<i64> = shape.iter().copied().collect();
            output_plane(name, &dims, data)
        };
        let mut depth = read(&self.output)?;
        self.card.to_disparity(&mut depth.data);
        depth.normalise_min_max();
        let foreground = match &self.foreground {
            Some(name) => {
                let mut fg = read(name)?;
                // Probabilities are kept; logits (values outside [0,1]) go through a sigmoid.
                let logits = fg.data.iter().any(|v| !(-0.01..=1.01).contains(v));
                fg.data.iter_mut().for_each(|v| {
                    *v = if !v.is_finite() { 0.0 } else if logits { 1.0 / (1.0 + (-*v).exp()) } else { v.clamp(0.0, 1.0) };
                });
                Some(fg)
            }
            None => None,
        };
        Ok(Prediction { depth, foreground })
    }
}

#[cfg(test)]
mod tests {
    use super::output_plane;

    #[test]
    fn output_shapes() {
        let d = vec![0.0f32; 6];
        assert_eq!(output_plane("d", &[1, 1, 2, 3], &d).unwrap().width, 3);
        assert_eq!(output_plane("d", &[1, 2, 3, 1], &d).unwrap().height, 2);
        assert_eq!(output_plane("d", &[2, 3], &d).unwrap().width, 3);
        assert!(output_plane("d", &[1, 0, 3], &[]).unwrap_err().to_string().contains("empty"));
        assert!(output_plane("d", &[1, 0, 2, 3], &[]).unwrap_err().to_string().contains("empty"));
        assert!(output_plane("d", &[6], &d).unwrap_err().to_string().contains("expected one map"));
        assert!(output_plane("d", &[2, 1, 1, 3], &d).unwrap_err().to_string().contains("expected one map"));
    }
}
