//! deeplens's integration tests, one target (one link of FFmpeg and ONNX Runtime) with one
//! fixtures module (`common`). Each module is one area; run one with
//! `cargo test --test it AREA::` (for example `cargo test --test it farm_slurm::`).

mod common;

mod batch;
mod convert;
mod depth_cards;
mod errors;
mod exports;
mod farm;
mod farm_slurm;
mod focus_cli;
mod gpu_codecs;
mod focus_invalid;
mod focus_motion;
mod focus_roundtrip;
mod focus_samples;
mod focus_stabilize;
mod focus_track;
mod hardening;
mod interrupt;
mod lens_models;
mod lens_quality;
mod precision;
mod presets;
mod preview;
mod still;
mod thinlens_cli;
