//! `deeplens sheet INPUT OUT.png`: a contact sheet of N frames spread over the clip, each as
//! input | depth (a perceptual colour map with a scale bar) | result, with the focus and blur
//! track of the whole clip plotted under it. What a user looks at before an overnight render.
//!
//! Depth and focus run over every frame (their state carries from frame to frame, as in a
//! conversion); lens blur and upsampling only for the frames shown.

use crate::live::font::{draw_text, text_width, GLYPH_H};
use crate::pipeline::{lens_stage, upsample_stage, Job, OutputForm};
use crate::video::{Cut, Demuxer, InputSpec};
use anyhow::{bail, Context, Result};
use deeplens_core::config::RenderOptions;
use deeplens_core::focus::Rotation;
use deeplens_core::frame::{Plane, RgbImage};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The most frames a sheet shows.
pub const MAX_FRAMES: usize = 64;
/// Width of each picture on the sheet.
const THUMB_W: usize = 320;
const GAP: usize = 8;
const LABEL_H: usize = 2 * GLYPH_H + 10;
const PLOT_H: usize = 140;
const BG: u32 = 0x0020_2020;
const FG: u32 = 0x00e0_e0e0;

/// A perceptual colour map (viridis's anchor colours, linear between them): 0 dark blue-violet
/// (far), 1 yellow (near).
pub fn colour_map(v: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 5] = [[68.0, 1.0, 84.0], [59.0, 82.0, 139.0], [33.0, 145.0, 140.0], [94.0, 201.0, 98.0], [253.0, 231.0, 37.0]];
    let x = v.clamp(0.0, 1.0) * 4.0;
    let i = (x.floor() as usize).min(3);
    let t = x - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    [0, 1, 2].map(|c| (a[c] + (b[c] - a[c]) * t).round() as u8)
}

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u32>,
}

impl Canvas {
    fn blit_rgb(&mut self, img: &RgbImage, x0: usize, y0: usize) {
        for y in 0..img.height {
            for x in 0..img.width {
                let i = (y * img.width + x) * 3;
                let c = [0, 1, 2].map(|k| (img.data[i + k].clamp(0.0, 1.0) * 255.0 + 0.5) as u32);
                self.set(x0 + x, y0 + y, (c[0] << 16) | (c[1] << 8) | c[2]);
            }
        }
    }

    fn blit_depth(&mut self, d: &Plane, x0: usize, y0: usize) {
        for y in 0..d.height {
            for x in 0..d.width {
                let [r, g, b] = colour_map(d.get(x, y));
                self.set(x0 + x, y0 + y, ((r as u32) << 16) | ((g as u32) << 8) | b as u32);
            }
        }
    }

    fn set(&mut self, x: usize, y: usize, c: u32) {
        if x < self.w && y < self.h {
            self.px[y * self.w + x] = c;
        }
    }

    fn text(&mut self, x: usize, y: usize, t: &str, c: u32) {
        draw_text(&mut self.px, self.w, self.h, x, y, t, 1, c);
    }

    fn line(&mut self, (x0, y0): (f32, f32), (x1, y1): (f32, f32), c: u32) {
        let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
        for i in 0..=n {
            let t = i as f32 / n as f32;
            self.set((x0 + (x1 - x0) * t).round() as usize, (y0 + (y1 - y0) * t).round() as usize, c);
        }
    }
}

/// One shown frame: index, time, input, depth and result thumbnails, focus.
type Shown = (u64, f64, RgbImage, Plane, RgbImage, f32);

/// The sheet: a header with the column titles and the depth scale bar, a row per shown frame,
/// the focus and blur plot over every frame.
fn draw(shown: &[Shown], history: &[deeplens_core::focus::FrameFocus], th: usize, dw: usize) -> Canvas {
    let cols = 3;
    let w = GAP + cols * (THUMB_W + GAP);
    let row_h = th + GAP + GLYPH_H + 4;
    let h = GAP + LABEL_H + shown.len() * row_h + PLOT_H + 3 * GAP;
    let mut c = Canvas { w, h, px: vec![BG; w * h] };
    let col_x = |k: usize| GAP + k * (THUMB_W + GAP);
    c.text(col_x(0), GAP, "INPUT", FG);
    c.text(col_x(1), GAP, "DEPTH", FG);
    c.text(col_x(2), GAP, "RESULT", FG);
    // Scale bar: far (0) to near (1).
    let bar_x = col_x(1) + text_width("DEPTH ", 1);
    let bar_w = THUMB_W - text_width("DEPTH ", 1) - text_width(" 1 NEAR", 1) - text_width("FAR 0 ", 1);
    let bar_x = bar_x + text_width("FAR 0 ", 1);
    c.text(bar_x - text_width("FAR 0 ", 1), GAP, "FAR 0", FG);
    for x in 0..bar_w {
        let [r, g, b] = colour_map(x as f32 / (bar_w.max(2) - 1) as f32);
        for y in GAP..GAP + GLYPH_H {
            c.set(bar_x + x, y, ((r as u32) << 16) | ((g as u32) << 8) | b as u32);
        }
    }
    c.text(bar_x + bar_w + 6, GAP, "1 NEAR", FG);
    for (i, (index, t, input, d, out, focus)) in shown.iter().enumerate() {
        let y = GAP + LABEL_H + i * row_h;
        c.text(col_x(0), y, &format!("FRAME {index}  T {t:.2} S  FOCUS {focus:.2}"), FG);
        let y = y + GLYPH_H + 4;
        c.blit_rgb(input, col_x(0), y);
        c.blit_depth(d, col_x(1), y);
        c.blit_rgb(out, col_x(2), y);
    }
    // The focus (and the blur, scaled to its largest value) over the whole clip.
    let py = GAP + LABEL_H + shown.len() * row_h + GAP;
    let (px0, pw, ph) = (GAP + 40, w - 2 * GAP - 48, PLOT_H - GLYPH_H - 10);
    c.text(GAP, py, "FOCUS", 0x0000_c8ff);
    c.text(GAP + text_width("FOCUS  ", 1), py, "BLUR", 0x00ff_a040);
    let top = py + GLYPH_H + 6;
    for (v, label) in [(1.0f32, "1"), (0.5, "0.5"), (0.0, "0")] {
        let y = top + ((1.0 - v) * ph as f32) as usize;
        c.text(GAP, y.saturating_sub(GLYPH_H / 2), label, FG);
        for x in (px0..px0 + pw).step_by(4) {
            c.set(x, y, 0x0050_5050);
        }
    }
    let last = history.last().map_or(1, |f| f.frame.max(1)) as f32;
    let max_blur = history.iter().map(|f| f.blur.to_pixels(dw)).fold(0.0f32, f32::max).max(1e-6);
    let at = |frame: u64, v: f32| (px0 as f32 + frame as f32 / last * (pw - 1) as f32, top as f32 + (1.0 - v.clamp(0.0, 1.0)) * ph as f32);
    for pair in history.windows(2) {
        c.line(at(pair[0].frame, pair[0].blur.to_pixels(dw) / max_blur), at(pair[1].frame, pair[1].blur.to_pixels(dw) / max_blur), 0x00ff_a040);
        c.line(at(pair[0].frame, pair[0].focus), at(pair[1].frame, pair[1].focus), 0x0000_c8ff);
    }
    for (index, ..) in shown {
        let (x, _) = at(*index, 0.0);
        for y in top..top + ph {
            if y % 3 == 0 {
                c.set(x as usize, y, 0x0090_9090);
            }
        }
    }
    c.text(px0, top + ph + 3, &format!("0 .. {} FRAMES, MAX BLUR {max_blur:.1} PX", last as u64 + 1), FG);

    c
}

/// Render the sheet of `frames` frames of `input` with `render` to `out` (PNG).
pub fn sheet(input: &InputSpec, out: &Path, overwrite: bool, frames: usize, mut render: RenderOptions, models: &deeplens_onnx::OnnxModels, cancel: Arc<AtomicBool>) -> Result<()> {
    if !(1..=MAX_FRAMES).contains(&frames) {
        bail!("--frames must be between 1 and {MAX_FRAMES}");
    }
    if !out.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        bail!("{}: the sheet is a PNG picture (OUT.png)", out.display());
    }
    crate::outfile::check_target(out, overwrite, &[Path::new(&input.url)])?;
    let temp = crate::outfile::TempOutput::new(out, overwrite)?;
    let total = {
        let marks = Demuxer::open(input)?.video_packets(Cut::default())?;
        marks.len()
    };
    if total == 0 {
        bail!("{}: no video frames", input.url);
    }
    let n = frames.min(total);
    // Frames at the middle of N equal parts of the clip.
    let picks: Vec<u64> = (0..n).map(|k| (((2 * k + 1) * total) / (2 * n)) as u64).collect();

    let demux = Demuxer::open(input)?;
    let info = demux.info.clone();
    let (dw, _) = info.display_size();
    render.record_focus = true;
    let stages = render.build_stages(models, dw, Rotation(info.rotation), info.high_bit_depth)?;
    let (mut depth, mut lens, mut up) = stages.split();
    let (tx, rx) = crossbeam_channel::bounded(4);
    let stop = cancel.clone();
    let decoder = std::thread::spawn(move || demux.run(Cut::default(), &|| stop.load(Ordering::Relaxed), |f| tx.send(f).is_ok(), |_| true));
    let th = (info.height * THUMB_W / info.width.max(1)).max(1);
    let mut shown: Vec<Shown> = Vec::new();
    let mut err = None;
    for f in rx.iter() {
        let mut j = Job::new(f.index, f.pts, f.t, f.rgb);
        let wanted = picks.binary_search(&f.index).is_ok();
        // Every frame is analysed (focus is temporal); only the shown ones are rendered.
        let r = if wanted {
            depth.run(j).and_then(|p| lens_stage(lens.as_mut(), p)).and_then(|r| upsample_stage(up.as_mut(), r, OutputForm::Rgb)).map(Some)
        } else {
            depth.analyse(&mut j).map(|_| None)
        };
        match r {
            Err(e) => {
                err = Some(e.into());
                break;
            }
            Ok(Some(j)) => {
                let (d, o) = (j.depth.resize(THUMB_W, th), j.output.rgb().resize(THUMB_W, th));
                shown.push((f.index, j.t, j.full.resize(THUMB_W, th), d, o, j.focus.focus));
            }
            Ok(None) => {}
        }
    }
    drop(rx);
    decoder.join().map_err(|_| anyhow::anyhow!("the decode thread panicked"))??;
    if let Some(e) = err {
        return Err(e);
    }
    if cancel.load(Ordering::Relaxed) {
        bail!("interrupted; no sheet written");
    }
    if shown.is_empty() {
        bail!("{}: no frame could be decoded", input.url);
    }
    let history = depth.focus.history().to_vec();

    let c = draw(&shown, &history, th, dw);
    let (w, h) = (c.w, c.h);
    let mut rgb = image::RgbImage::new(w as u32, h as u32);
    for (p, v) in rgb.pixels_mut().zip(&c.px) {
        *p = image::Rgb([(v >> 16) as u8, (v >> 8) as u8, *v as u8]);
    }
    rgb.save_with_format(&temp.tmp, image::ImageFormat::Png).with_context(|| format!("cannot write {}", out.display()))?;
    temp.commit()
}
