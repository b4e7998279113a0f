//! Depth model cards: each built-in card gives its family's input tensor (shape, colour order,
//! value range, normalisation) and reads its output the right way round, on graphs of the same
//! shapes and contract built here; card files, `--depth-model-kind` and wrong cards.

use crate::common::onnx::{Dim, Fixed, Graph, Named};
use crate::common::*;
use deeplens_core::depth::card::CardChoice;
use deeplens_onnx::OnnxDepth;
use deeplens_core::depth::{DepthModel, Prediction};
use deeplens_core::{Plane, RgbImage};
use std::path::{Path, PathBuf};

/// A graph whose "depth" is one channel of its input passed through `op(x, k)` (`Min` shows the
/// value range, `Max` with 0 the mean/std): `[1,1,H,W]` out of `[1,3,H,W]`, `[1,H,W,3]`
/// (transposed first) or `[1,T,3,H,W]`.
fn probe(dims: &[Dim], channel: i64, op: &str, k: f32) -> Graph {
    let nhwc = dims.len() == 4 && matches!(dims[3], Fixed(3));
    let video = dims.len() == 5;
    let (h, w) = if nhwc { (dims[1].clone(), dims[2].clone()) } else { (dims[dims.len() - 2].clone(), dims[dims.len() - 1].clone()) };
    let mut g = Graph::new().input("x", dims).int64s("starts", &[channel]).int64s("ends", &[channel + 1]).int64s("axes", &[if video { 2 } else { 1 }]).floats("k", &[], &[k]);
    let src = if nhwc {
        g = g.node("Transpose", &["x"], &["xt"], &[("perm", &[0, 3, 1, 2])]);
        "xt"
    } else {
        "x"
    };
    let out: Vec<Dim> = if video { vec![Fixed(1), Fixed(1), Fixed(1), h, w] } else { vec![Fixed(1), Fixed(1), h, w] };
    g.node("Slice", &[src, "starts", "ends", "axes"], &["c"], &[]).node(op, &["c", "k"], &["depth"], &[]).output("depth", &out)
}

fn save(dir: &Path, name: &str, g: Graph) -> PathBuf {
    let p = dir.join(name);
    g.save(&p);
    p
}

fn load(model: &Path, file: Option<PathBuf>, kind: Option<&str>) -> anyhow::Result<OnnxDepth> {
    let opts = deeplens_onnx::runtime::RuntimeOptions { device: deeplens_onnx::runtime::Device::Cpu, ..Default::default() };
    Ok(OnnxDepth::load(model, &CardChoice { file, kind: kind.map(String::from) }, &opts)?)
}

/// Three vertical bands whose channel `c` is 0, `mid` and 1 (the others 0).
fn bands(w: usize, h: usize, c: usize, mid: f32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, _| {
        let mut p = [0.0; 3];
        p[c] = [0.0, mid, 1.0][x * 3 / w];
        p
    })
}

/// The depth at the middle of each band.
fn at_bands(p: &Plane) -> [f32; 3] {
    [1, 3, 5].map(|i| p.get(p.width * i / 6, p.height / 2))
}

fn close(got: [f32; 3], want: [f32; 3]) {
    assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 0.02), "got {got:?}, want {want:?}");
}

fn predict(m: &mut OnnxDepth, img: &RgbImage) -> Prediction {
    m.predict_all(img).unwrap()
}

#[test]
fn tcmonodepth_gets_rgb_in_0_255_at_320x192() {
    let d = tempfile::tempdir().unwrap();
    let model = save(d.path(), "tc.onnx", probe(&[Fixed(1), Fixed(3), Fixed(192), Fixed(320)], 0, "Min", 2.0));
    let mut m = load(&model, None, None).unwrap();
    assert_eq!(m.card().card.name, "tcmonodepth");
    let img = bands(640, 360, 0, 1.0 / 255.0);
    let (shape, _) = m.card().tensor(&img.resize(320, 192));
    assert_eq!(shape, vec![1, 3, 192, 320]);
    // In 0-255 the bands are 0, 1 and 255, clipped to 2 by the graph: 0, 1/2, 1 once normalised.
    let p = predict(&mut m, &img);
    assert_eq!((p.depth.width, p.depth.height), (320, 192));
    close(at_bands(&p.depth), [0.0, 0.5, 1.0]);
    assert!(p.foreground.is_none());
}

#[test]
fn channels_last_is_detected_and_transposed() {
    let d = tempfile::tempdir().unwrap();
    let model = save(d.path(), "tc_nhwc.onnx", probe(&[Fixed(1), Fixed(192), Fixed(320), Fixed(3)], 0, "Min", 2.0));
    let mut m = load(&model, None, None).unwrap();
    assert_eq!(m.card().card.layout, deeplens_core::depth::card::Layout::Nhwc);
    close(at_bands(&predict(&mut m, &bands(320, 192, 0, 1.0 / 255.0)).depth), [0.0, 0.5, 1.0]);
}

#[test]
fn a_bgr_card_file_feeds_blue_first() {
    let d = tempfile::tempdir().unwrap();
    let model = save(d.path(), "tc.onnx", probe(&[Fixed(1), Fixed(3), Fixed(192), Fixed(320)], 0, "Min", 2.0));
    let card = d.path().join("bgr.toml");
    std::fs::write(&card, "base = \"tcmonodepth\"\ncolour_order = \"bgr\"\n").unwrap();
    let blue = bands(320, 192, 2, 1.0 / 255.0);
    close(at_bands(&predict(&mut load(&model, Some(card), None).unwrap(), &blue).depth), [0.0, 0.5, 1.0]);
    // Read as RGB, channel 0 is red: all zero, a flat map.
    close(at_bands(&predict(&mut load(&model, None, None).unwrap(), &blue).depth), [0.5, 0.5, 0.5]);
}

#[test]
fn midas_small_gets_imagenet_at_256() {
    let d = tempfile::tempdir().unwrap();
    let model = save(d.path(), "midas.onnx", probe(&[Fixed(1), Fixed(3), Fixed(256), Fixed(256)], 0, "Max", 0.0));
    let mut m = load(&model, None, None).unwrap();
    assert_eq!(m.card().card.name, "midas-small");
    // Red 0, 0.5, 1 normalised with ImageNet's mean 0.485 and std 0.229 is -2.12, 0.07, 2.25;
    // cut at 0: 0, 0.03, 1 normalised (without the mean it would be 0, 0.5, 1).
    let p = predict(&mut m, &bands(300, 200, 0, 0.5));
    assert_eq!((p.depth.width, p.depth.height), (256, 256));
    close(at_bands(&p.depth), [0.0, 0.066 / 2.249, 1.0]);
}

#[test]
fn depth_anything_v2_keeps_the_aspect_at_518_multiple_of_14() {
    let d = tempfile::tempdir().unwrap();
    let model = save(d.path(), "da.onnx", probe(&[Fixed(1), Fixed(3), Named("h"), Named("w")], 0, "Max", 0.0));
    let mut m = load(&model, None, None).unwrap();
    assert_eq!(m.card().card.name, "depth-anything-v2");
    let p = predict(&mut m, &bands(1036, 518, 0, 0.5));
    assert_eq!(p.depth.width, 518);
    assert_eq!(p.depth.height % 14, 0);
    assert!((p.depth.height as i64 - 259).abs() <= 7, "{}", p.depth.height);
    close(at_bands(&p.depth), [0.0, 0.066 / 2.249, 1.0]);
}

#[test]
fn video_depth_anything_takes_one_frame() {
    let d = tempfile::tempdir().unwrap();
    let model = save(d.path(), "vda.onnx", probe(&[Fixed(1), Named("t"), Fixed(3), Named("h"), Named("w")], 0, "Max", 0.0));
    let mut m = load(&model, None, None).unwrap();
    assert_eq!(m.card().card.name, "video-depth-anything");
    let img = bands(518, 294, 0, 0.5);
    assert_eq!(m.card().tensor(&img).0, vec![1, 1, 3, 294, 518]);
    let p = predict(&mut m, &img);
    assert_eq!(p.depth.width, 518);
    close(at_bands(&p.depth), [0.0, 0.066 / 2.249, 1.0]);
    // A graph that wants eight frames at once is refused.
    let eight = save(d.path(), "vda8.onnx", probe(&[Fixed(1), Fixed(8), Fixed(3), Named("h"), Named("w")], 0, "Max", 0.0));
    let e = format!("{:#}", load(&eight, None, None).err().unwrap());
    assert!(e.contains("8 frames"), "{e}");
}

#[test]
fn depth_outputs_are_inverted_and_kind_and_metadata_are_read() {
    let d = tempfile::tempdir().unwrap();
    let dynamic = [Fixed(1), Fixed(3), Named("h"), Named("w")];
    let model = save(d.path(), "dyn.onnx", probe(&dynamic, 0, "Min", 2.0));
    // --depth-model-kind tcmonodepth on a dynamic graph: 320×192, 0-255.
    let mut m = load(&model, None, Some("tcmonodepth")).unwrap();
    let p = predict(&mut m, &bands(640, 360, 0, 1.0 / 255.0));
    assert_eq!((p.depth.width, p.depth.height), (320, 192));
    close(at_bands(&p.depth), [0.0, 0.5, 1.0]);
    // The same with "depth" output: larger is farther, so the order flips.
    let card = d.path().join("depth.toml");
    std::fs::write(&card, "base = \"tcmonodepth\"\noutput = \"depth\"\n").unwrap();
    close(at_bands(&predict(&mut load(&model, Some(card), None).unwrap(), &bands(640, 360, 0, 1.0 / 255.0)).depth), [1.0, 0.5, 0.0]);
    // Our metadata: aspect kept, long side 192, multiple of 32, RGB 0-1; a foreground output.
    let ours = probe(&dynamic, 0, "Min", 2.0)
        .int64s("s1", &[1])
        .int64s("e1", &[2])
        .node("Slice", &["x", "s1", "e1", "axes"], &["segmentation"], &[])
        .output("segmentation", &[Fixed(1), Fixed(1), Named("h"), Named("w")])
        .meta("deeplens.kind", "depth")
        .meta("deeplens.input_multiple", "32")
        .meta("deeplens.input_long_side", "192");
    let model = save(d.path(), "ours.onnx", ours);
    let mut m = load(&model, None, Some("midas-small")).unwrap();
    assert_eq!(m.card().card.name, "deeplens", "metadata comes before --depth-model-kind");
    let img = RgbImage::from_fn(384, 216, |x, _| if x < 192 { [0.0, 0.9, 0.0] } else { [1.0, 0.1, 0.0] });
    let p = predict(&mut m, &img);
    assert_eq!((p.depth.width, p.depth.height), (192, 96));
    let fg = p.foreground.expect("a foreground map");
    assert!((fg.get(20, 48) - 0.9).abs() < 0.02 && (fg.get(170, 48) - 0.1).abs() < 0.02);
}

/// A 320×192 still with a red ramp.
fn still(dir: &Path) -> String {
    let p = dir.join("in.png");
    image::RgbImage::from_fn(320, 192, |x, _| image::Rgb([(x * 255 / 319) as u8, 60, 60])).save(&p).unwrap();
    p.display().to_string()
}

#[test]
fn card_beside_the_model_and_kind_through_the_cli() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let input = still(dir);
    let model = save(dir, "m.onnx", probe(&[Fixed(1), Fixed(3), Fixed(192), Fixed(320)], 0, "Min", 2.0));
    let m = model.display().to_string();
    let depth_of = |extra: &[&str]| {
        let out = dir.join("out.png");
        let dp = dir.join("d.png");
        let mut args = vec!["image", &input, out.to_str().unwrap(), "-y", "--no-stabilize", "--depth-model", &m, "--save-depth", dp.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let img = image::open(&dp).unwrap().to_luma16();
        (img.get_pixel(0, 96)[0], img.get_pixel(310, 96)[0])
    };
    // Detected as TCMonoDepth: the ramp in 0-255 is cut at 2, so all but the first columns read 1.
    let (left, right) = depth_of(&[]);
    assert!(left < 1000 && right > 64000, "{left} {right}");
    // MODEL.onnx.toml beside it: 0-1 and depth to be inverted, so the left reads nearest.
    std::fs::write(dir.join("m.onnx.toml"), "base = \"tcmonodepth\"\nvalue_range = \"0-1\"\noutput = \"depth\"\n").unwrap();
    let (left, right) = depth_of(&[]);
    assert!(left > 64000 && right < 4000, "{left} {right}");
    // The card beside MODEL.onnx also serves its half-precision form (MODEL.fp16.onnx, here a copy).
    std::fs::copy(&model, dir.join("m.fp16.onnx")).unwrap();
    let (left, right) = depth_of(&["--precision", "fp16"]);
    assert!(left > 64000 && right < 4000, "{left} {right}");
    // --depth-model-card wins over the file beside the model.
    let card = dir.join("plain.toml");
    std::fs::write(&card, "base = \"tcmonodepth\"\n").unwrap();
    let (left, right) = depth_of(&["--depth-model-card", card.to_str().unwrap()]);
    assert!(left < 1000 && right > 64000, "{left} {right}");
}

#[test]
fn wrong_cards_fail_with_one_clear_line() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let input = still(dir);
    let out = dir.join("out.png").display().to_string();
    let model = save(dir, "tc.onnx", probe(&[Fixed(1), Fixed(3), Fixed(192), Fixed(320)], 0, "Min", 2.0)).display().to_string();
    let card = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--depth-model-kind".into(), "dpt-huge".into()], "unknown depth model kind 'dpt-huge'"),
        (vec!["--depth-model-kind".into(), "midas-small".into()], "gives input 256×256 but the model's input 'x' is 320×192"),
        (vec!["--depth-model-card".into(), card("nhwc.toml", "base = \"tcmonodepth\"\nlayout = \"nhwc\"\n")], "NHWC"),
        (vec!["--depth-model-card".into(), card("field.toml", "colour = \"rgb\"\n")], "unknown field `colour`"),
        (vec!["--depth-model-card".into(), card("std.toml", "std = [1.0, 0.0, 1.0]\n")], "std 0 must be"),
        (vec!["--depth-model-card".into(), card("long.toml", "long_side = 0\n")], "long side 0"),
        (vec!["--depth-model-card".into(), card("huge.toml", "long_side = 100000\n")], "out of range"),
        (vec!["--depth-model-card".into(), card("big.toml", &"# padding\n".repeat(8000))], "64 KiB"),
        (vec!["--depth-model-card".into(), dir.join("none.toml").display().to_string()], "cannot read depth model card"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["image", input.as_str(), out.as_str(), "--depth-model", model.as_str()];
        args.extend(extra.iter().map(String::as_str));
        let err = fails(dir, &args, needle);
        assert_eq!(err.lines().filter(|l| !l.trim().is_empty()).count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn empty_or_misshapen_outputs_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let input = still(dir);
    let out = dir.join("out.png").display().to_string();
    let x = [Fixed(1), Fixed(3), Fixed(192), Fixed(320)];
    // Channels 3..4 of three: an empty map.
    let empty = probe(&x, 3, "Min", 2.0);
    let whole = Graph::new().input("x", &x).node("Identity", &["x"], &["depth"], &[]).output("depth", &x);
    let flat = Graph::new().input("x", &x).int64s("shape", &[-1]).node("Reshape", &["x", "shape"], &["depth"], &[]).output("depth", &[Named("n")]);
    for (name, g, needle) in [("empty.onnx", empty, "is empty"), ("whole.onnx", whole, "expected one map"), ("flat.onnx", flat, "has 1 dimensions")] {
        let m = save(dir, name, g).display().to_string();
        fails(dir, &["image", &input, &out, "--depth-model", &m], needle);
    }
}
