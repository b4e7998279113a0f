//! `deeplens image`: the same stages for one still.

use crate::common::*;

#[test]
fn given_depth_blurs_the_far_half_and_keeps_the_focal_plane() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // Fine texture everywhere; depth: left half far (0), right half near (1).
    let rgb = image::RgbImage::from_fn(200, 120, |x, y| {
        let v = if ((x / 3) + (y / 3)) % 2 == 0 { 220 } else { 30 };
        image::Rgb([v, (x * 255 / 200) as u8, v])
    });
    rgb.save(dir.join("in.png")).unwrap();
    let depth = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(200, 120, |x, _| image::Luma([if x < 100 { 0 } else { 65535 }]));
    depth.save(dir.join("depth.png")).unwrap();
    let o = run(&[
        "image", dir.join("in.png").to_str().unwrap(), dir.join("out.png").to_str().unwrap(),
        "--depth", dir.join("depth.png").to_str().unwrap(), "--focus", "1", "--max-blur", "8",
        "--save-depth", dir.join("used.png").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = image::open(dir.join("in.png")).unwrap().to_luma8();
    let b = image::open(dir.join("out.png")).unwrap().to_luma8();
    assert_eq!(b.dimensions(), (200, 120));
    let far = energy(&b, 0, 80) / energy(&a, 0, 80);
    let near = energy(&b, 120, 200) / energy(&a, 120, 200);
    assert!(far < 0.1, "far half keeps {far:.3} of its detail");
    assert!(near > 0.95, "focal plane keeps only {near:.3} of its detail");
    let used = image::open(dir.join("used.png")).unwrap();
    assert_eq!(used.color(), image::ColorType::L16);
    assert_eq!(used.width(), 200);
}

#[test]
fn still_with_the_depth_model() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let png = dir.join("in.png");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=320x180", "-frames:v", "1", png.to_str().unwrap()]);
    let out = dir.join("out.jpg");
    let o = run(&["image", png.to_str().unwrap(), out.to_str().unwrap(), "--save-depth", dir.join("d.png").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(image::open(&out).unwrap().width(), 320);
    let dimg = image::open(dir.join("d.png")).unwrap().to_luma16();
    let (lo, hi) = dimg.pixels().fold((u16::MAX, 0), |(l, h), p| (l.min(p[0]), h.max(p[0])));
    assert!(hi > lo, "the predicted depth is not flat");
}

#[test]
fn sixteen_bit_png_stays_sixteen_bit() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let img = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(64, 32, |x, y| image::Rgb([(x * 1000) as u16, (y * 2000) as u16, 40000]));
    img.save(dir.join("in.png")).unwrap();
    let o = run(&["image", dir.join("in.png").to_str().unwrap(), dir.join("out.png").to_str().unwrap(), "--focus", "0.5", "--depth", dir.join("in.png").to_str().unwrap(), "--max-blur", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = image::open(dir.join("out.png")).unwrap();
    assert_eq!(out.color(), image::ColorType::Rgb16);
    // With no blur the picture comes back as it went in.
    let out = out.to_rgb16();
    for (a, b) in img.pixels().zip(out.pixels()) {
        for k in 0..3 {
            assert!((a[k] as i32 - b[k] as i32).abs() <= 2, "{a:?} vs {b:?}");
        }
    }
}

#[test]
fn learned_renderer_blurs_the_far_half() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let rgb = image::RgbImage::from_fn(128, 96, |x, y| {
        let v = if ((x / 2) + (y / 2)) % 2 == 0 { 220 } else { 30 };
        image::Rgb([v, 128, 255 - v])
    });
    rgb.save(dir.join("in.png")).unwrap();
    let depth = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(128, 96, |x, _| image::Luma([if x < 64 { 0 } else { 65535 }]));
    depth.save(dir.join("depth.png")).unwrap();
    let o = run(&[
        "image", dir.join("in.png").to_str().unwrap(), dir.join("out.png").to_str().unwrap(),
        "--depth", dir.join("depth.png").to_str().unwrap(), "--focus", "1", "--max-blur", "12", "--renderer", "learned",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = image::open(dir.join("in.png")).unwrap().to_luma8();
    let b = image::open(dir.join("out.png")).unwrap().to_luma8();
    let far = energy(&b, 0, 48) / energy(&a, 0, 48);
    let near = energy(&b, 80, 128) / energy(&a, 80, 128);
    assert!(far < 0.3, "far half keeps {far:.3} of its detail");
    assert!(near > 0.5, "focal plane keeps only {near:.3} of its detail");
}

#[test]
fn a_standard_depth_model_interface_works() {
    // Fixed input size, ImageNet normalisation, [1,H,W] output, no deeplens metadata.
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let rgb = image::RgbImage::from_fn(160, 90, |x, _| if x < 80 { image::Rgb([20, 20, 20]) } else { image::Rgb([230, 230, 230]) });
    rgb.save(dir.join("in.png")).unwrap();
    let o = run(&[
        "image", dir.join("in.png").to_str().unwrap(), dir.join("out.png").to_str().unwrap(),
        "--depth-model", repo("tests/data/standard_like_depth.onnx").to_str().unwrap(),
        "--save-depth", dir.join("d.png").to_str().unwrap(), "--no-stabilize",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let depth = image::open(dir.join("d.png")).unwrap().to_luma16();
    assert_eq!(depth.dimensions(), (160, 90));
    // The model's "depth" rises with brightness: the bright half reads nearer, normalised to [0,1].
    assert!(depth.get_pixel(10, 45)[0] < 5000 && depth.get_pixel(150, 45)[0] > 60000, "{} {}", depth.get_pixel(10, 45)[0], depth.get_pixel(150, 45)[0]);
}
