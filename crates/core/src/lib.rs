//! # deeplens-core
//!
//! The compute of deeplens — shallow depth of field for any video, after the fact, from one
//! ordinary camera: an implementation of "DeepLens: Shallow Depth of Field From a Single Image"
//! (Wang et al., ACM TOG 2018) as a streaming video processor.
//!
//! A frame goes through four compute stages:
//!
//! 1. [`depth`]: the contract of a depth model — normalised inverse depth (disparity) in
//!    [0, 1], 1 = nearest (paper §3.1) — model cards, and temporal stabilisation.
//! 2. [`focus`]: the focal depth d_f and the blur strength for the frame (a fixed value, a
//!    point, autofocus or a JSON track, temporally smoothed).
//! 3. [`lens`]: lens blur at a working resolution, with the circle of confusion
//!    `r = max_blur · |D − d_f|` (§3.2.2).
//! 4. [`upsample`]: recurrent ×2 guided upsampling back to full resolution (Eq. 3).
//!
//! [`pipeline`] runs the stages on their own threads joined by bounded channels, and
//! [`config`] turns render settings and presets into stages.
//!
//! What this crate never touches: codecs (FFmpeg lives in `deeplens-video`), ONNX Runtime
//! (`deeplens-onnx` implements [`depth::DepthModel`], [`lens::LensBlur`] and
//! [`upsample::Upsampler`] on it), the command line and its error reporting (the `deeplens`
//! binary). It builds, tests and benches anywhere. Errors are [`Error`]s, typed by kind.

pub mod config;
pub mod depth;
mod error;
pub mod focus;
pub mod frame;
pub mod lens;
pub mod pipeline;
pub mod plan;
pub mod upsample;
pub mod yuv;

pub use error::{printable, BoxError, Context, Error, ErrorKind, Kind, Result, ResultExt};
pub use frame::{Plane, RgbImage};
