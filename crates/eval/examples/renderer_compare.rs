//! Issue 18's diagnosis: `deeplens image IN OUT --depth D --focus F --max-blur R` with several
//! renderer settings on a folder of thin-lens scenes (tests/data/thinlens' layout, e.g. the
//! selection set of `models/training/gen_thinlens.py`), scored against the Cycles truth over the
//! frame and in regions: the edge band (near depth edges), highlights (within its blur disc of a
//! clipped input pixel) and the rest ("flat"); then means per group (blur that fits the lens'
//! r_max or not, which focus setting, shading, size) and against the better classical peer.
//!
//! `cargo run --release -p deeplens-eval --example renderer_compare -- DIR BIN [--run LABEL=ARGS]... [--json FILE]`
//!
//! Without `--run`: `physical=--renderer physical` and `learned=--renderer learned`.

use deeplens_core::frame::{psnr, Plane, RgbImage};
use deeplens_core::lens::LensParams;
use deeplens_eval::lens_eval::{disc_mask, edge_band, read_rgb, thin_lens_scenes};
use deeplens_eval::reference;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// Pixels within the blur disc of a clipped (smallest channel ≥ 0.98) input pixel.
fn highlight_zone(input: &RgbImage, depth: &Plane, p: &LensParams) -> Vec<bool> {
    let (w, h) = (input.width, input.height);
    let mut radius = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let c = input.pixel(x, y);
            if c[0].min(c[1]).min(c[2]) >= 0.98 {
                radius[y * w + x] = p.signed_coc(depth.get(x, y)).abs() + 1.5;
            }
        }
    }
    disc_mask(w, h, &radius)
}

#[derive(Default, Clone)]
struct Sums {
    n: usize,
    v: [f64; 4],
    nan: [usize; 4],
}

impl Sums {
    fn add(&mut self, s: [f64; 4]) {
        self.n += 1;
        for k in 0..4 {
            if s[k].is_finite() {
                self.v[k] += s[k];
            } else {
                self.nan[k] += 1;
            }
        }
    }
    fn mean(&self, k: usize) -> f64 {
        self.v[k] / (self.n - self.nan[k]).max(1) as f64
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut pos, mut runs, mut json_out) = (Vec::new(), Vec::<(String, Vec<String>)>::new(), None);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--run" => {
                let v = it.next().ok_or_else(|| anyhow::anyhow!("--run needs LABEL=ARGS"))?;
                let (label, rest) = v.split_once('=').ok_or_else(|| anyhow::anyhow!("--run needs LABEL=ARGS"))?;
                runs.push((label.to_owned(), rest.split_whitespace().map(str::to_owned).collect()));
            }
            "--json" => json_out = it.next(),
            _ => pos.push(a),
        }
    }
    anyhow::ensure!(pos.len() == 2, "usage: renderer_compare DIR BIN [--run LABEL=ARGS]... [--json FILE]");
    if runs.is_empty() {
        runs = vec![("physical".into(), vec!["--renderer".into(), "physical".into()]), ("learned".into(), vec!["--renderer".into(), "learned".into()])];
    }
    let (dir, bin) = (PathBuf::from(&pos[0]), PathBuf::from(&pos[1]));
    let tmp = tempfile::tempdir()?;
    let mut labels: Vec<String> = runs.iter().map(|r| r.0.clone()).collect();
    labels.extend(["defocus".to_owned(), "scatter".to_owned()]);
    // group name -> label -> sums
    let mut groups: BTreeMap<String, BTreeMap<String, Sums>> = BTreeMap::new();
    let mut rows = Vec::new();
    println!("{:14} {:>9} {:>5} {:>6} | {}", "scene", "size", "blur", "focus", labels.iter().map(|l| format!("{l:>27}")).collect::<Vec<_>>().join(" "));
    println!("{:38} | {}", "", labels.iter().map(|_| format!("{:>27}", "frame/band/flat/highl")).collect::<Vec<_>>().join(" "));
    for s in thin_lens_scenes(&dir)? {
        let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{}.json", s.name)))?)?;
        let band = edge_band(&s.depth, &s.params);
        let high = highlight_zone(&s.input, &s.depth, &s.params);
        let flat: Vec<bool> = band.iter().zip(&high).map(|(b, h)| !b && !h).collect();
        let region = |o: &RgbImage| [psnr(o, &s.truth, None), psnr(o, &s.truth, Some(&band)), psnr(o, &s.truth, Some(&flat)), psnr(o, &s.truth, Some(&high))];
        let mut scores = BTreeMap::new();
        for (label, extra) in &runs {
            let out = tmp.path().join(format!("{}_{label}.png", s.name));
            let f = |suffix: &str| dir.join(format!("{}_{suffix}.png", s.name)).to_string_lossy().into_owned();
            let o = Command::new(&bin)
                .args(["image", &f("input"), out.to_str().unwrap(), "-y", "--depth", &f("depth"), "--focus", &s.params.focus.to_string(), "--max-blur", &s.params.max_blur.to_string()])
                .args(extra)
                .output()?;
            anyhow::ensure!(o.status.success(), "{}: {}", s.name, String::from_utf8_lossy(&o.stderr));
            scores.insert(label.clone(), region(&read_rgb(&out)?));
        }
        scores.insert("defocus".into(), region(&s.defocus));
        scores.insert("scatter".into(), region(&reference::scatter_blur(&s.input, &s.depth, &s.params)));
        let fits = if s.params.max_blur <= 24.0 { "blur <= 24 px" } else { "blur > 24 px" };
        let focus_k = s.name.rsplit('_').next().unwrap_or("").to_owned();
        let keys = [
            "all".to_owned(),
            fits.to_owned(),
            format!("focus {focus_k}"),
            format!("shading {}", meta["shading"].as_str().unwrap_or("emission")),
            format!("size {}x{}", s.input.width, s.input.height),
        ];
        for k in &keys {
            let g = groups.entry(k.clone()).or_default();
            for l in &labels {
                g.entry(l.clone()).or_default().add(scores[l]);
            }
        }
        let fmt = |v: &[f64; 4]| format!("{:6.2}/{:6.2}/{:6.2}/{:6.2}", v[0], v[1], v[2], v[3]);
        println!("{:14} {:>9} {:5.1} {:6.3} | {}", s.name, format!("{}x{}", s.input.width, s.input.height), s.params.max_blur, s.params.focus,
            labels.iter().map(|l| format!("{:>27}", fmt(&scores[l]))).collect::<Vec<_>>().join(" "));
        rows.push(serde_json::json!({"scene": s.name, "max_blur": s.params.max_blur, "focus": s.params.focus,
            "scores": labels.iter().map(|l| (l.clone(), scores[l].to_vec())).collect::<BTreeMap<_, _>>()}));
    }
    println!("\nmeans (frame/band/flat/highlights; NaN regions left out):");
    let mut summary = BTreeMap::new();
    for (g, by) in &groups {
        let n = by.values().next().map_or(0, |s| s.n);
        let line: Vec<String> = labels.iter().map(|l| {
            let s = &by[l];
            format!("{l} {:.2}/{:.2}/{:.2}/{:.2}", s.mean(0), s.mean(1), s.mean(2), s.mean(3))
        }).collect();
        println!("{g:16} n={n:<3} {}", line.join("  "));
        let peer = by["defocus"].mean(0).max(by["scatter"].mean(0));
        let rel: Vec<String> = runs.iter().map(|(l, _)| format!("{l} {:+.2} vs peer", by[l].mean(0) - peer)).collect();
        println!("{:22} {}", "", rel.join("  "));
        summary.insert(g.clone(), labels.iter().map(|l| (l.clone(), (0..4).map(|k| by[l].mean(k)).collect::<Vec<_>>())).collect::<BTreeMap<_, _>>());
    }
    if let Some(path) = json_out {
        std::fs::write(path, serde_json::to_string_pretty(&serde_json::json!({"dir": dir, "scenes": rows, "groups": summary}))?)?;
    }
    Ok(())
}
