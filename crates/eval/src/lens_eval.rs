//! Measuring renderers against ground truth: the band around depth edges, where renderers differ.

use deeplens_core::frame::{psnr, Plane, RgbImage};
use deeplens_core::lens::LensParams;
use deeplens_core::{ErrorKind, Kind};

/// Pixels near a depth discontinuity: where the blur radius jumps by more than one pixel between
/// neighbours, grown by the larger radius of the two sides (at least 2 px), which is as far as
/// either side's light reaches across the edge.
pub fn edge_band(depth: &Plane, params: &LensParams) -> Vec<bool> {
    let (w, h) = (depth.width, depth.height);
    let coc = |x: usize, y: usize| params.signed_coc(depth.get(x, y));
    let mut grow = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let c = coc(x, y);
            for (nx, ny) in [(x + 1, y), (x, y + 1)] {
                if nx < w && ny < h {
                    let cn = coc(nx, ny);
                    if (c - cn).abs() > 1.0 {
                        let r = c.abs().max(cn.abs()).max(2.0);
                        grow[y * w + x] = grow[y * w + x].max(r);
                    }
                }
            }
        }
    }
    disc_mask(w, h, &grow)
}

/// Every pixel within `radius[i]` of a pixel `i` whose radius is positive (a `w`×`h` mask).
pub fn disc_mask(w: usize, h: usize, radius: &[f32]) -> Vec<bool> {
    let mut mask = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            let r = radius[y * w + x];
            if r <= 0.0 {
                continue;
            }
            let ri = r.ceil() as isize;
            for dy in -ri..=ri {
                for dx in -ri..=ri {
                    let (xx, yy) = (x as isize + dx, y as isize + dy);
                    if xx >= 0 && yy >= 0 && xx < w as isize && yy < h as isize && ((dx * dx + dy * dy) as f32) <= r * r {
                        mask[yy as usize * w + xx as usize] = true;
                    }
                }
            }
        }
    }
    mask
}

/// PSNR over the frame and over the edge band (NaN when there is no edge).
pub fn score(out: &RgbImage, truth: &RgbImage, band: &[bool]) -> (f64, f64) {
    (psnr(out, truth, None), psnr(out, truth, Some(band)))
}

/// Read an 8- or 16-bit PNG (or any format `image` reads) as gamma-encoded RGB in [0, 1].
pub fn read_rgb(path: &std::path::Path) -> deeplens_core::Result<RgbImage> {
    let img = image::open(path).map_err(|e| deeplens_core::err!(Input, "{}: {e}", path.display()))?.to_rgb16();
    Ok(RgbImage::from_rgb16(img.width() as usize, img.height() as usize, img.as_raw()))
}

/// Read a grey picture (8 or 16 bit) as values in [0, 1], e.g. normalised disparity.
pub fn read_grey(path: &std::path::Path) -> deeplens_core::Result<Plane> {
    let img = image::open(path).map_err(|e| deeplens_core::err!(Input, "{}: {e}", path.display()))?.to_luma16();
    Ok(Plane { width: img.width() as usize, height: img.height() as usize, data: img.as_raw().iter().map(|&v| v as f32 / 65535.0).collect() })
}

/// Write RGB as an 8- or 16-bit PNG (or another format by extension, 8-bit).
pub fn write_rgb(path: &std::path::Path, img: &RgbImage, sixteen: bool) -> deeplens_core::Result<()> {
    let (w, h) = (img.width as u32, img.height as u32);
    if sixteen {
        image::ImageBuffer::<image::Rgb<u16>, _>::from_raw(w, h, img.to_rgb16()).expect("size").save(path).or_kind(Kind::Output)?;
    } else {
        image::RgbImage::from_raw(w, h, img.to_rgb8()).expect("size").save(path).or_kind(Kind::Output)?;
    }
    Ok(())
}

/// One ray-traced thin-lens scene made by `tests/data/thinlens/make_scenes.py`.
pub struct ThinLensScene {
    pub name: String,
    pub input: RgbImage,
    pub depth: Plane,
    /// Cycles' depth-of-field render: the truth.
    pub truth: RgbImage,
    /// Blender's compositor Defocus node fed the exact circle of confusion.
    pub defocus: RgbImage,
    pub params: LensParams,
    pub defocus_seconds: f64,
}

/// Load every scene in `dir` (one `NAME.json` each), sorted by name.
pub fn thin_lens_scenes(dir: &std::path::Path) -> deeplens_core::Result<Vec<ThinLensScene>> {
    let mut names: Vec<String> = std::fs::read_dir(dir).or_kind(Kind::Input)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".json")).map(str::to_owned))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).or_kind(Kind::Input)?).or_kind(Kind::Input)?;
            let num = |k: &str| meta[k].as_f64().ok_or_else(|| deeplens_core::err!(Input, "{name}.json: no {k}"));
            let params = LensParams::new(num("focus")? as f32, num("max_blur")? as f32);
            let file = |suffix: &str| dir.join(format!("{name}_{suffix}.png"));
            Ok(ThinLensScene {
                input: read_rgb(&file("input"))?,
                depth: read_grey(&file("depth"))?,
                truth: read_rgb(&file("dof"))?,
                defocus: read_rgb(&file("defocus"))?,
                params,
                defocus_seconds: num("defocus_node_seconds")?,
                name,
            })
        })
        .collect()
}
