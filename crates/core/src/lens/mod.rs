//! Lens blur at the working resolution.
//!
//! Both renderers take an all-in-focus picture, normalised disparity `D` (1 = nearest) and the
//! focus settings, and return the shallow depth-of-field picture at the same size. The blur
//! radius of a pixel is the thin-lens circle of confusion `r = max_blur · |D − d_f|` (paper
//! §3.2.2: the aperture scales the signed depth), with `max_blur` in pixels of the picture being
//! rendered: callers scale the user's full-resolution value by the working scale.

pub mod aperture;
pub mod physical;
pub mod scatter;

use crate::frame::{Plane, RgbImage};

/// The shape of the lens opening, which is the shape of out-of-focus highlights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ApertureShape {
    Circle,
    /// A regular polygon of `blades` sides (≥ 3), turned by `rotation_deg`.
    Blades { blades: u32, rotation_deg: f32 },
}

/// Everything a renderer needs besides the picture and its depth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LensParams {
    /// Focal depth d_f as normalised disparity in [0, 1].
    pub focus: f32,
    /// Circle-of-confusion radius where |D − d_f| = 1, in pixels of the rendered picture.
    pub max_blur: f32,
    pub aperture: ApertureShape,
    /// Mechanical vignetting toward the corners, 0 (off) to 1 (strong cat-eye bokeh).
    pub cat_eye: f32,
    /// Extra gain for clipped highlights of 8-bit sources, 0 (off) and up; 1 doubles them.
    pub highlight_boost: f32,
}

impl LensParams {
    pub fn new(focus: f32, max_blur: f32) -> Self {
        Self { focus, max_blur, aperture: ApertureShape::Circle, cat_eye: 0.0, highlight_boost: 0.0 }
    }

    /// The same settings for a picture `scale` times the size (blur radius scales with it).
    pub fn scaled(&self, scale: f32) -> Self {
        Self { max_blur: self.max_blur * scale, ..*self }
    }

    /// Signed circle of confusion for a disparity value: negative in front of the focal plane.
    #[inline]
    pub fn signed_coc(&self, disparity: f32) -> f32 {
        self.max_blur * (disparity - self.focus)
    }

    #[inline]
    pub fn coc(&self, disparity: f32) -> f32 {
        self.signed_coc(disparity).abs()
    }
}

/// A lens blur renderer. `render` takes `&mut self` so an implementation may keep scratch
/// buffers or an ONNX session; one renderer lives on one stage thread.
pub trait LensBlur: Send {
    fn name(&self) -> &'static str;
    /// The execution provider that really runs it, for networks.
    fn provider(&self) -> Option<String> {
        None
    }
    fn render(&mut self, rgb: &RgbImage, depth: &Plane, params: &LensParams) -> crate::Result<RgbImage>;
    /// Another renderer like this one, for a second lens thread rendering the next frame at the
    /// same time ([`crate::pipeline::EngineOptions::lens_threads`]); `None` (the default) keeps
    /// it on one thread (a network session, a test double).
    fn fork(&self) -> Option<Box<dyn LensBlur>> {
        None
    }
    /// The largest radius (working-resolution pixels) the renderer handles, if it has one; the
    /// pipeline picks the working resolution so the requested blur fits.
    fn max_radius(&self) -> Option<f32> {
        None
    }
}

/// Decode a transfer-encoded value (sRGB / BT.709 camera curves are close; we use sRGB) to linear.
#[inline]
pub fn to_linear(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

#[inline]
pub fn from_linear(v: f32) -> f32 {
    let v = v.max(0.0);
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}
