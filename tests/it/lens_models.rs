//! The learned lens model's contract: a model with a third input `physical` is given the
//! physical renderer's picture of the same frame and settings; one without it is not.

use crate::common::onnx::{Fixed, Graph, Named};
use deeplens_core::lens::physical::PhysicalRenderer;
use deeplens_core::lens::{LensBlur, LensParams};
use deeplens_core::{Plane, RgbImage};
use deeplens_onnx::{Device, LearnedLens, RuntimeOptions};

/// A lens graph of our contract whose `blur` is one of its inputs passed through.
fn passthrough(dir: &std::path::Path, with_physical: bool, out_of: &str) -> std::path::PathBuf {
    let hw = |c| vec![Fixed(1), Fixed(c), Named("h"), Named("w")];
    let mut g = Graph::new().input("image", &hw(3)).input("signed_depth", &hw(1));
    if with_physical {
        g = g.input("physical", &hw(3));
    }
    let g: Graph = g.node("Identity", &[out_of], &["blur"], &[]).output("blur", &hw(3)).meta("deeplens.kind", "lens").meta("deeplens.r_max", "24");
    let p = dir.join(format!("lens_{with_physical}_{out_of}.onnx"));
    g.save(&p);
    p
}

fn scene() -> (RgbImage, Plane) {
    let rgb = RgbImage::from_fn(64, 48, |x, y| if (x / 3 + y / 3) % 2 == 0 { [0.9, 0.5, 0.1] } else { [0.1, 0.3, 0.8] });
    let depth = Plane::from_fn(64, 48, |x, _| x as f32 / 63.0);
    (rgb, depth)
}

fn load(p: &std::path::Path) -> LearnedLens {
    LearnedLens::load(p, &RuntimeOptions { device: Device::Cpu, ..Default::default() }).unwrap()
}

#[test]
fn a_lens_model_with_a_physical_input_gets_the_physical_render() {
    let d = tempfile::tempdir().unwrap();
    let (rgb, depth) = scene();
    let params = LensParams::new(0.2, 6.0);
    let got = load(&passthrough(d.path(), true, "physical")).render(&rgb, &depth, &params).unwrap();
    let want = PhysicalRenderer::new().render(&rgb, &depth, &params).unwrap();
    let diff = got.data.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-6, "max difference {diff}");
    // … which really is blurred: 4.8 px on the far side.
    assert_ne!(got.data, rgb.data);
}

#[test]
fn a_lens_model_without_it_is_run_on_the_picture_alone() {
    let d = tempfile::tempdir().unwrap();
    let (rgb, depth) = scene();
    let got = load(&passthrough(d.path(), false, "image")).render(&rgb, &depth, &LensParams::new(0.2, 6.0)).unwrap();
    assert_eq!(got.data, rgb.data);
}

/// A lens graph whose `blur` is the signed depth it was given, in all three channels.
fn echo_signed(dir: &std::path::Path, max_radius: Option<&str>) -> std::path::PathBuf {
    let hw = |c| vec![Fixed(1), Fixed(c), Named("h"), Named("w")];
    let mut g = Graph::new()
        .input("image", &hw(3))
        .input("signed_depth", &hw(1))
        .node("Concat", &["signed_depth", "signed_depth", "signed_depth"], &["blur"], &[("axis", &[1])])
        .output("blur", &hw(3))
        .meta("deeplens.kind", "lens")
        .meta("deeplens.r_max", "24");
    if let Some(m) = max_radius {
        g = g.meta("deeplens.max_radius", m);
    }
    let p = dir.join(format!("echo_{}.onnx", max_radius.unwrap_or("none")));
    g.save(&p);
    p
}

#[test]
fn a_lens_model_with_a_max_radius_gets_signed_depth_beyond_one_up_to_it() {
    let d = tempfile::tempdir().unwrap();
    let (rgb, _) = scene();
    // Depth 0 … 0.6 across, focus at 0: the signed depth at the right edge is 0.6·α, α = r / r_max
    // (the picture out is limited to [0, 1], so the depth stays where 0.6·α fits).
    let depth = Plane::from_fn(64, 48, |x, _| 0.6 * x as f32 / 63.0);
    let right_edge = |lens: &mut LearnedLens, blur: f32| lens.render(&rgb, &depth, &LensParams::new(0.0, blur)).unwrap().data[63 * 3] / 0.6;
    let mut plain = load(&echo_signed(d.path(), None));
    assert_eq!(plain.max_radius(), Some(24.0));
    assert!((right_edge(&mut plain, 12.0) - 0.5).abs() < 1e-5);
    assert!((right_edge(&mut plain, 30.0) - 1.0).abs() < 1e-5, "limited to r_max without the metadata");
    let mut wide = load(&echo_signed(d.path(), Some("32")));
    assert_eq!(wide.max_radius(), Some(32.0));
    assert!((right_edge(&mut wide, 12.0) - 0.5).abs() < 1e-5);
    assert!((right_edge(&mut wide, 30.0) - 1.25).abs() < 1e-5);
    assert!((right_edge(&mut wide, 40.0) - 32.0 / 24.0).abs() < 1e-5, "limited to max_radius");
    for bad in ["20", "NaN", "lots"] {
        let e = LearnedLens::load(&echo_signed(d.path(), Some(bad)), &RuntimeOptions { device: Device::Cpu, ..Default::default() }).err().expect("refused").to_string();
        assert!(e.contains("deeplens.max_radius") && e.contains("at least deeplens.r_max (24)"), "{e}");
    }
}
