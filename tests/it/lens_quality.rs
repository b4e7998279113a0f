//! Quality of the physical lens blur against ground truth and against the naive baselines.
//!
//! Runs without FFmpeg: `cargo test --no-default-features --test lens_quality`. The thresholds
//! are the measured values (see docs/lens-blur.md) less a small margin, so a regression shows.

use deeplens_core::frame::{psnr, Plane, RgbImage};
use deeplens_eval::lens_eval::{edge_band, score, thin_lens_scenes};
use deeplens_core::lens::{from_linear, physical, to_linear, ApertureShape, LensParams};
use deeplens_eval::reference;
use deeplens_eval::synth::eval_case;
use std::path::Path;

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Layered scenes (paper §4.2): a check rather than the measure, since slicing by depth
/// reproduces layers almost by construction. The renderer must beat both baselines in the edge
/// band of every scene and on average by a wide margin.
#[test]
fn layered_ground_truth_beats_gather_and_scatter() {
    let (mut phys, mut gath, mut scat) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..6 {
        let (scene, p) = eval_case(i, 96, 8.0);
        let (input, depth, truth) = (scene.input(), scene.depth(), scene.ground_truth(&p));
        let band = edge_band(&depth, &p);
        let a = score(&physical::render(&input, &depth, &p), &truth, &band);
        let b = score(&reference::gather_blur(&input, &depth, &p), &truth, &band);
        let c = score(&reference::scatter_blur(&input, &depth, &p), &truth, &band);
        assert!(a.1 > b.1 && a.1 > c.1, "scene {i}: edge band physical {:.2} gather {:.2} scatter {:.2}", a.1, b.1, c.1);
        phys.push(a);
        gath.push(b);
        scat.push(c);
    }
    let f = |v: &[(f64, f64)], k: usize| mean(&v.iter().map(|x| if k == 0 { x.0 } else { x.1 }).collect::<Vec<_>>());
    let (pf, pb) = (f(&phys, 0), f(&phys, 1));
    println!("layered: physical {pf:.2}/{pb:.2}  gather {:.2}/{:.2}  scatter {:.2}/{:.2}", f(&gath, 0), f(&gath, 1), f(&scat, 0), f(&scat, 1));
    // Measured: 36.0 dB over the frame, 30.8 dB in the band; the baselines 32.4–32.7 / 26.8–27.0.
    assert!(pf > 35.0 && pb > 30.0, "physical {pf:.2}/{pb:.2}");
    assert!(pb > f(&gath, 1) + 3.0 && pb > f(&scat, 1) + 3.0);
    assert!(pf > f(&gath, 0) + 2.5 && pf > f(&scat, 0) + 2.5);
}

/// Ray-traced thin-lens scenes (Blender Cycles, tests/data/thinlens): the measure. Peers are
/// Blender's Defocus node fed the exact circle of confusion and a BokehMe-style scatter.
#[test]
fn thin_lens_truth_beats_defocus_node_and_scatter() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/thinlens");
    let scenes = thin_lens_scenes(&dir).expect("thin-lens scenes");
    assert!(scenes.len() >= 4);
    let mut rows = Vec::new();
    for s in &scenes {
        let band = edge_band(&s.depth, &s.params);
        let ours = score(&physical::render(&s.input, &s.depth, &s.params), &s.truth, &band);
        let boosted_params = LensParams { highlight_boost: 1.0, ..s.params };
        let boosted = score(&physical::render(&s.input, &s.depth, &boosted_params), &s.truth, &band);
        let defocus = score(&s.defocus, &s.truth, &band);
        let scatter = score(&reference::scatter_blur(&s.input, &s.depth, &s.params), &s.truth, &band);
        println!("{:9} ours {:.2}/{:.2} boosted {:.2}/{:.2} defocus {:.2}/{:.2} scatter {:.2}/{:.2}", s.name, ours.0, ours.1, boosted.0, boosted.1, defocus.0, defocus.1, scatter.0, scatter.1);
        // Never worse than either peer on any scene (ties within 0.1 dB happen where highlights
        // dominate and nobody has their energy).
        for peer in [defocus, scatter] {
            assert!(ours.0 > peer.0 - 0.1 && ours.1 > peer.1 - 0.1, "{}: ours {ours:?} peer {peer:?}", s.name);
        }
        rows.push([ours, boosted, defocus, scatter]);
    }
    let m = |k: usize, frame: bool| mean(&rows.iter().map(|r| if frame { r[k].0 } else { r[k].1 }).collect::<Vec<_>>());
    let best_frame = m(2, true).max(m(3, true));
    let best_band = m(2, false).max(m(3, false));
    // Measured (means over the 4 scenes): ours 30.83 / 29.02, with highlight boost 1.0
    // 33.20 / 29.97; better peer 30.17 (scatter) / 27.15 (scatter).
    // Without boost the issue's +1 dB bar is met in the band but not over the frame (+0.66 dB).
    assert!(m(0, true) > best_frame + 0.5, "frame: ours {:.2} best peer {best_frame:.2}", m(0, true));
    assert!(m(0, false) > best_band + 1.5, "band: ours {:.2} best peer {best_band:.2}", m(0, false));
    assert!(m(1, true) > best_frame + 2.5, "boosted frame {:.2} best peer {best_frame:.2}", m(1, true));
    assert!(m(1, false) > best_band + 2.5, "boosted band {:.2} best peer {best_band:.2}", m(1, false));
}

/// A sharp subject in front of a strongly blurred, contrasting background keeps its own pixels:
/// no halo, no bleed. The scatter baseline, for contrast, spills background onto it.
#[test]
fn sharp_subject_keeps_its_pixels() {
    let (w, h) = (80, 64);
    let subject = |x: usize, y: usize| (x as f32 - 40.0).powi(2) + (y as f32 - 32.0).powi(2) < 18.0f32.powi(2);
    let rgb = RgbImage::from_fn(w, h, |x, y| {
        if subject(x, y) {
            [0.1, 0.15, 0.2]
        } else if (x / 4 + y / 4) % 2 == 0 {
            [1.0, 0.9, 0.2]
        } else {
            [0.9, 0.2, 0.8]
        }
    });
    let depth = Plane::from_fn(w, h, |x, y| if subject(x, y) { 0.8 } else { 0.1 });
    let p = LensParams::new(0.8, 14.0);
    let out = physical::render(&rgb, &depth, &p);
    let scat = reference::scatter_blur(&rgb, &depth, &p);
    let mut worst = 0.0f32;
    let mut worst_scatter = 0.0f32;
    for y in 0..h {
        for x in 0..w {
            if subject(x, y) {
                for k in 0..3 {
                    let i = (y * w + x) * 3 + k;
                    worst = worst.max((out.data[i] - rgb.data[i]).abs());
                    worst_scatter = worst_scatter.max((scat.data[i] - rgb.data[i]).abs());
                }
            }
        }
    }
    assert!(worst < 1.0 / 255.0, "subject changed by {worst}");
    assert!(worst_scatter > 0.1, "the scatter baseline was expected to bleed ({worst_scatter})");
}

fn point_light(w: usize, h: usize, cx: usize, cy: usize) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| if x == cx && y == cy { [1.0; 3] } else { [0.0; 3] })
}

/// Linear-light value of a rendered pixel.
fn lin(img: &RgbImage, x: usize, y: usize) -> f32 {
    to_linear(img.pixel(x, y)[1])
}

/// A small bright light far behind the focal plane becomes a flat, bright disc of the right
/// radius whose light adds up to the light's own (blur in linear light). Slices of radius 4 px
/// and more are scattered at half resolution (softer edges by a pixel or two), but a point light
/// in them keeps the full resolution, so its disc keeps a crisp edge.
#[test]
fn highlight_becomes_a_bright_disc() {
    let (w, h) = (64, 64);
    let rgb = point_light(w, h, 32, 32);
    let depth = Plane::filled(w, h, 0.0);
    let r = 7.0;
    let out = physical::render(&rgb, &depth, &LensParams::new(1.0, r));
    let inside = lin(&out, 32, 32);
    for (x, y) in [(32, 27), (37, 32), (29, 35), (35, 29)] {
        assert!((lin(&out, x, y) - inside).abs() < 0.02 * inside, "disc not flat at ({x},{y})");
    }
    for (x, y) in [(32, 24), (41, 32), (38, 38)] {
        assert!(lin(&out, x, y) < 1e-4, "light outside the disc at ({x},{y})");
    }
    let energy = |img: &RgbImage| -> f32 { (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).map(|(x, y)| lin(img, x, y)).sum() };
    assert!((energy(&out) - 1.0).abs() < 0.02, "energy {}", energy(&out));
    // In gamma terms the disc is far brighter than a blur of the encoded values would give.
    let gamma_blur = 1.0 / (std::f32::consts::PI * r * r);
    assert!(out.pixel(32, 32)[1] > 2.0 * gamma_blur && (out.pixel(32, 32)[1] - from_linear(gamma_blur)).abs() < 0.03);
    // Wide blur: still a disc, energy kept; the light keeps a one-pixel edge.
    let wide = physical::render(&rgb, &depth, &LensParams::new(1.0, 16.0));
    assert!((energy(&wide) - 1.0).abs() < 0.02, "energy {}", energy(&wide));
    let c = lin(&wide, 32, 32);
    assert!((lin(&wide, 32, 21) - c).abs() < 0.02 * c && (lin(&wide, 42, 40) - c).abs() < 0.02 * c);
    assert!((lin(&wide, 32, 17) - c).abs() < 0.02 * c && lin(&wide, 32, 15) < 1e-4, "edge of the light's disc");
    assert!(lin(&wide, 32, 12) < 1e-4 && lin(&wide, 46, 46) < 1e-4);
    // A dim point (not a light) takes the half-resolution path: energy kept, a disc with an
    // edge up to two pixels soft.
    let dim = RgbImage::from_fn(w, h, |x, y| if (x, y) == (32, 32) { [0.6; 3] } else { [0.0; 3] });
    let wide = physical::render(&dim, &depth, &LensParams::new(1.0, 16.0));
    let e = to_linear(0.6);
    assert!((energy(&wide) - e).abs() < 0.02 * e, "energy {} of {e}", energy(&wide));
    let c = lin(&wide, 32, 32);
    assert!((lin(&wide, 32, 21) - c).abs() < 0.05 * c && (lin(&wide, 42, 40) - c).abs() < 0.05 * c);
    assert!(lin(&wide, 32, 13) < 0.5 * c && lin(&wide, 32, 18) > 0.5 * c && lin(&wide, 32, 12) < 1e-4 && lin(&wide, 46, 46) < 1e-4);
    // The highlight boost makes clipped lights brighter still.
    let boosted = physical::render(&rgb, &depth, &LensParams { highlight_boost: 2.0, ..LensParams::new(1.0, r) });
    assert!(lin(&boosted, 32, 32) > 2.5 * inside);
}

/// Half-width of the lit area on row `y` (pixels brighter than half the centre's).
fn half_width(img: &RgbImage, cx: usize, y: usize) -> usize {
    let c = lin(img, cx, cx);
    (1..img.width - cx).take_while(|&t| lin(img, cx + t, y) > 0.5 * c).count()
}

/// With six blades (a vertex up) the bokeh is a hexagon: its left and right sides are vertical,
/// so the lit width stays the same over the middle rows, where a disc narrows; its height is the
/// full radius (vertex) while its half-width is only cos 30° of it (side).
#[test]
fn blade_aperture_gives_a_polygon() {
    let (w, h) = (80, 80);
    let rgb = point_light(w, h, 40, 40);
    let depth = Plane::filled(w, h, 0.0);
    for r in [7.0f32, 20.0] {
        let p = LensParams { aperture: ApertureShape::Blades { blades: 6, rotation_deg: 0.0 }, ..LensParams::new(1.0, r) };
        let hex = physical::render(&rgb, &depth, &p);
        let disc = physical::render(&rgb, &depth, &LensParams::new(1.0, r));
        let (h0, h1) = (half_width(&hex, 40, 40), half_width(&hex, 40, 40 - (0.4 * r) as usize));
        let (d0, d1) = (half_width(&disc, 40, 40), half_width(&disc, 40, 40 - (0.6 * r) as usize));
        assert!(h0.abs_diff(h1) <= 1, "r {r}: hexagon rows {h0} {h1}");
        assert!(d0 > d1, "r {r}: disc rows {d0} {d1}");
        assert!(((h0 as f32) - r * 30f32.to_radians().cos()).abs() <= 1.5, "r {r}: hexagon half-width {h0}");
        if r > 10.0 {
            let height = (1..40).take_while(|&t| lin(&hex, 40, 40 - t) > 0.25 * lin(&hex, 40, 40)).count();
            assert!(height as f32 > h0 as f32 + 0.07 * r, "r {r}: height {height} half-width {h0}");
        }
    }
}

/// Cat-eye: toward a corner the bokeh is cut along the radial direction, so it is narrower
/// toward the centre than across.
#[test]
fn cat_eye_narrows_corner_bokeh() {
    let (w, h) = (128, 128);
    let rgb = point_light(w, h, 116, 116);
    let depth = Plane::filled(w, h, 0.0);
    let p = LensParams { cat_eye: 1.0, ..LensParams::new(1.0, 7.0) };
    let out = physical::render(&rgb, &depth, &p);
    // Extents of the lit area along the radial diagonal (toward the centre) and across it.
    let extents = |img: &RgbImage| {
        let (mut u, mut v) = ((f32::MAX, f32::MIN), (f32::MAX, f32::MIN));
        for y in 0..h {
            for x in 0..w {
                if lin(img, x, y) > 1e-4 {
                    let (pu, pv) = ((x + y) as f32 / 2f32.sqrt(), (x as f32 - y as f32) / 2f32.sqrt());
                    u = (u.0.min(pu), u.1.max(pu));
                    v = (v.0.min(pv), v.1.max(pv));
                }
            }
        }
        (u.1 - u.0, v.1 - v.0)
    };
    // Two discs of radius 7 offset by 0.82 radii: 8.3 px along the radius, 12.8 px across.
    let (radial, tangential) = extents(&out);
    assert!(radial + 3.0 < tangential, "radial {radial} tangential {tangential}");
    // At the centre of the frame the bokeh stays round.
    let (radial, tangential) = extents(&physical::render(&point_light(w, h, 64, 64), &depth, &p));
    assert!((radial - tangential).abs() < 1.0, "radial {radial} tangential {tangential}");
}

/// The same scene rendered at two working resolutions (radius scaled with the size) agrees.
#[test]
fn consistent_across_working_resolutions() {
    let (scene, p) = eval_case(4, 128, 12.0);
    let (input, depth) = (scene.input(), scene.depth());
    let full = physical::render(&input, &depth, &p);
    let small = physical::render(&input.resize(64, 64), &depth.resize(64, 64), &p.scaled(0.5));
    let q = psnr(&full.resize(64, 64), &small, None);
    println!("full vs half working resolution: {q:.2} dB");
    assert!(q > 32.0, "{q}");
}
