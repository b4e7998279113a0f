//! The issues' interface, exactly: `deeplens image IN OUT --depth D.png --focus F --max-blur R
//! --renderer physical|learned` on the ray-traced thin-lens scenes, scored against the better
//! classical peer (Blender's Defocus node with the exact CoC, or the BokehMe-style scatter).

use crate::common::*;
use deeplens_eval::lens_eval::{edge_band, read_rgb, score, thin_lens_scenes};
use deeplens_eval::reference;

/// Mean (frame, edge-band) PSNR of `deeplens image --renderer R` and of the better peer.
fn scores(renderer: &str) -> ((f64, f64), (f64, f64)) {
    let dir = repo("tests/data/thinlens");
    let tmp = tempfile::tempdir().unwrap();
    let scenes = thin_lens_scenes(&dir).unwrap();
    let mut ours = (0.0, 0.0);
    let (mut defocus_sum, mut scatter_sum) = ((0.0, 0.0), (0.0, 0.0));
    for s in &scenes {
        let out = tmp.path().join(format!("{}.png", s.name));
        let o = run(&[
            "image", dir.join(format!("{}_input.png", s.name)).to_str().unwrap(), out.to_str().unwrap(),
            "--depth", dir.join(format!("{}_depth.png", s.name)).to_str().unwrap(),
            "--focus", &s.params.focus.to_string(), "--max-blur", &s.params.max_blur.to_string(), "--renderer", renderer,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let band = edge_band(&s.depth, &s.params);
        let ours_s = score(&read_rgb(&out).unwrap(), &s.truth, &band);
        let d = score(&s.defocus, &s.truth, &band);
        let sc = score(&reference::scatter_blur(&s.input, &s.depth, &s.params), &s.truth, &band);
        println!("{:9} {renderer} {:.2}/{:.2} defocus {:.2}/{:.2} scatter {:.2}/{:.2}", s.name, ours_s.0, ours_s.1, d.0, d.1, sc.0, sc.1);
        ours = (ours.0 + ours_s.0, ours.1 + ours_s.1);
        defocus_sum = (defocus_sum.0 + d.0, defocus_sum.1 + d.1);
        scatter_sum = (scatter_sum.0 + sc.0, scatter_sum.1 + sc.1);
    }
    let n = scenes.len() as f64;
    let best = (defocus_sum.0.max(scatter_sum.0) / n, defocus_sum.1.max(scatter_sum.1) / n);
    let ours = (ours.0 / n, ours.1 / n);
    println!("mean: {renderer} {:.2}/{:.2}, better peer {:.2}/{:.2}", ours.0, ours.1, best.0, best.1);
    (ours, best)
}

#[test]
fn deeplens_image_beats_the_better_peer_on_thin_lens_truth() {
    let ((f, b), best) = scores("physical");
    // The bar: at least 1 dB over the better peer, over the frame and in the edge band (8-bit
    // inputs get the default highlight boost).
    assert!(f >= best.0 + 1.0, "frame: {f:.2} vs {:.2}", best.0);
    assert!(b >= best.1 + 1.0, "band: {b:.2} vs {:.2}", best.1);
}

#[test]
fn learned_renderer_meets_the_bar_on_thin_lens_truth() {
    let ((f, b), best) = scores("learned");
    let ((pf, pb), _) = scores("physical");
    // The bar, both parts, over the frame and in the edge band: at least 1 dB over the
    // better classical peer, and the physical renderer's PSNR within 0.3 dB or better.
    println!("learned − physical: {:+.2} dB frame, {:+.2} dB band", f - pf, b - pb);
    assert!(f >= best.0 + 1.0, "frame: {f:.2} vs {:.2}", best.0);
    assert!(b >= best.1 + 1.0, "band: {b:.2} vs {:.2}", best.1);
    assert!(f >= pf - 0.3, "frame: learned {f:.2} vs physical {pf:.2}");
    assert!(b >= pb - 0.3, "band: learned {b:.2} vs physical {pb:.2}");
}
