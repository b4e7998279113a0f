//! # deeplens-eval (unpublished)
//!
//! What measures deeplens rather than runs it: synthetic scenes with known depth and their
//! ground-truth renders ([`synth`]), the slow reference renderers the physical renderer is
//! scored against ([`reference`]), the thin-lens test scenes and their scores ([`lens_eval`]),
//! and the flicker and focus-lag measures of `deeplens bench` ([`metrics`]). The tests, the
//! benches, `deeplens bench` and the Python training (through the examples `synth` and
//! `render_file`) use it; the product's compute never does. [`compute_bench`] times the
//! product's stages on ONNX Runtime without FFmpeg, for a machine with a GPU.

pub mod compute_bench;
pub mod lens_eval;
pub mod metrics;
pub mod reference;
pub mod synth;

pub use metrics::{measure_synthetic, motion_lag, FlickerMeter, FlickerReport, LagReport, SyntheticClip, SyntheticFrame, SyntheticReport};
