//! `--precision fp16` (issue 20): each model's half-precision form (`NAME.fp16.onnx`, float32 at
//! its inputs and outputs) gives the same picture within rounding; a model without one is one clear
//! error.

use crate::common::*;

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let mse = a.as_raw().iter().zip(b.as_raw()).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>() / a.as_raw().len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
}

#[test]
fn half_precision_models_give_the_same_picture_within_rounding() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let scene = repo("tests/data/thinlens");
    let p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(scene.join("front.json")).unwrap()).unwrap();
    let (focus, blur) = (p["focus"].to_string(), p["max_blur"].to_string());
    let input = scene.join("front_input.png");
    let mut outs = Vec::new();
    for precision in ["fp32", "fp16"] {
        // The learned renderer (lens and upsampling models) on the true depth …
        let out = dir.join(format!("learned_{precision}.png"));
        let o = run(&["image", s(&input), s(&out), "--depth", s(&scene.join("front_depth.png")), "--focus", &focus, "--max-blur", &blur, "--renderer", "learned", "--precision", precision]);
        assert!(o.status.success(), "{}", stderr(&o));
        // … and the depth model with the default renderer.
        let out2 = dir.join(format!("depth_{precision}.png"));
        let o = run(&["image", s(&input), s(&out2), "--precision", precision]);
        assert!(o.status.success(), "{}", stderr(&o));
        outs.push((image::open(&out).unwrap().to_rgb8(), image::open(&out2).unwrap().to_rgb8()));
    }
    let learned = psnr(&outs[0].0, &outs[1].0);
    let depth = psnr(&outs[0].1, &outs[1].1);
    println!("fp16 against fp32: learned renderer {learned:.1} dB, depth model {depth:.1} dB");
    assert!(learned > 50.0 && depth > 50.0, "learned {learned:.1} dB, depth {depth:.1} dB");
}

#[test]
fn a_model_without_a_half_precision_form_is_one_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let model = dir.join("mine.onnx");
    std::fs::copy(repo("models/depth.onnx"), &model).unwrap();
    let input = repo("tests/data/thinlens/front_input.png");
    let err = fails(dir, &["image", s(&input), s(&dir.join("out.png")), "--depth-model", s(&model), "--precision", "fp16"], "has no half-precision form");
    assert!(err.contains("mine.fp16.onnx"), "{err}");
}
