//! # deeplens-onnx
//!
//! deeplens on ONNX Runtime: finding and loading the runtime library, choosing the execution
//! provider ([`runtime`]), and the ONNX implementations of the core's traits — the depth
//! networks read through their model cards ([`OnnxDepth`]), the learned lens blur
//! ([`LearnedLens`]) and the learned guided upsampling ([`LearnedUpsampler`]). [`OnnxModels`]
//! is the core's [`ModelLoader`] on them.
//!
//! It owns tensors and sessions; it never touches codecs, threads or the command line. Errors
//! are the core's [`deeplens_core::Error`], of kind `Model` (a model that is missing, malformed
//! or fails) or `Device` (the runtime library, CUDA).

mod depth;
mod lens;
pub mod runtime;
mod tensor;
mod upsample;

pub use depth::OnnxDepth;
pub use lens::LearnedLens;
pub use runtime::{Device, Precision, RuntimeOptions};
pub use upsample::LearnedUpsampler;

use deeplens_core::config::ModelLoader;
use deeplens_core::depth::{card::CardChoice, DepthModel};
use deeplens_core::lens::LensBlur;
use deeplens_core::upsample::Upsampler;
use deeplens_core::Result;
use std::path::Path;

/// Loads every model on ONNX Runtime with the same [`RuntimeOptions`].
#[derive(Clone, Debug, Default)]
pub struct OnnxModels {
    pub runtime: RuntimeOptions,
}

impl ModelLoader for OnnxModels {
    fn depth_model(&self, path: &Path, card: &CardChoice) -> Result<Box<dyn DepthModel>> {
        Ok(Box::new(OnnxDepth::load(path, card, &self.runtime)?))
    }

    fn learned(&self, lens: &Path, upsample: &Path) -> Result<(Box<dyn LensBlur>, Box<dyn Upsampler>)> {
        let lens = LearnedLens::load(lens, &self.runtime)?;
        let up = LearnedUpsampler::load(upsample, &self.runtime)?;
        Ok((Box::new(lens), Box::new(up)))
    }
}
