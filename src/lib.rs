//! # deeplens
//!
//! Shallow depth of field for any video, after the fact, from one ordinary camera: an
//! implementation of "DeepLens: Shallow Depth of Field From a Single Image" (Wang et al., ACM
//! TOG 2018) as a streaming video processor.
//!
//! A frame goes through four compute stages, each of which is FFmpeg-free so it can be built,
//! tested and benchmarked on its own:
//!
//! 1. [`depth`]: normalised inverse depth (disparity) in [0, 1], 1 = nearest (paper §3.1), from
//!    an ONNX network or from a given depth picture.
//! 2. [`focus`]: the focal depth d_f and the blur strength for the frame.
//! 3. [`lens`]: lens blur at a working resolution, with the circle of confusion
//!    `r = max_blur · |D − d_f|` (§3.2.2).
//! 4. [`upsample`]: recurrent ×2 guided upsampling back to full resolution (Eq. 3).
//!
//! The `video` feature adds FFmpeg decoding and encoding, and [`pipeline`] runs the stages on
//! their own threads joined by bounded channels.

pub mod config;
pub mod focus;
pub mod frame;
pub mod lens;
pub mod outfile;
pub mod still;
pub mod synth;
pub mod upsample;

pub use frame::{Plane, RgbImage};
pub mod depth;
#[cfg(feature = "onnx")]
pub mod runtime;
#[cfg(feature = "video")]
pub mod video;
pub mod pipeline;
#[cfg(feature = "onnx")]
mod onnx_util;
#[cfg(feature = "video")]
pub mod convert;
#[cfg(feature = "video")]
pub mod live;
