//! The physically based renderer (see the README's "Lens blur" section).

use super::{LensBlur, LensParams};
use crate::frame::{Plane, RgbImage};

/// Physically based lens blur in linear light.
#[derive(Default)]
pub struct PhysicalRenderer;

impl PhysicalRenderer {
    pub fn new() -> Self {
        Self
    }
}

impl LensBlur for PhysicalRenderer {
    fn name(&self) -> &'static str {
        "physical"
    }

    fn render(&mut self, rgb: &RgbImage, depth: &Plane, params: &LensParams) -> anyhow::Result<RgbImage> {
        anyhow::ensure!(
            (rgb.width, rgb.height) == (depth.width, depth.height),
            "depth is {}x{} but the picture is {}x{}",
            depth.width,
            depth.height,
            rgb.width,
            rgb.height
        );
        Ok(render(rgb, depth, params))
    }
}

/// Render one picture. Interim implementation: the gather baseline; the occlusion-aware renderer
/// replaces it.
pub fn render(rgb: &RgbImage, depth: &Plane, params: &LensParams) -> RgbImage {
    super::reference::gather_blur(rgb, depth, params)
}
