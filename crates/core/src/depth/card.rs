//! Depth model cards: the contract of a depth network's input and output.
//!
//! A card says how to turn a picture into the network's input tensor (size policy, colour
//! order, value range, mean/std, layout) and how to read its output (disparity, or depth to be
//! inverted; relative or metric). Cards come from, in priority: `--depth-model-card FILE`, a
//! `MODEL.onnx.toml` beside the model, the model's ONNX metadata (`deeplens.*`), a built-in card
//! named with `--depth-model-kind`, or detection from the graph's input shape. Every card is
//! checked against the graph before the first frame ([`DepthCard::fit`]).

use crate::frame::RgbImage;
use crate::Result;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The largest input side accepted (fixed sizes, long sides, graph dimensions).
pub const MAX_SIDE: usize = 4096;
/// The largest card file read.
pub const MAX_CARD_BYTES: u64 = 64 * 1024;

const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The built-in cards, by the names `--depth-model-kind` takes.
pub const KINDS: &[&str] = &["deeplens", "depth-anything-v2", "video-depth-anything", "midas-small", "tcmonodepth"];

/// How the input size is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizePolicy {
    /// Always this size.
    Fixed { width: usize, height: usize },
    /// Keep the aspect ratio, long side near `long`, both sides multiples of `multiple`.
    Aspect { long: usize, multiple: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColourOrder {
    Rgb,
    Bgr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum ValueRange {
    #[serde(rename = "0-1")]
    Unit,
    #[serde(rename = "0-255")]
    Byte,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nchw,
    Nhwc,
}

/// What the output holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// Larger = nearer (inverse depth).
    Disparity,
    /// Larger = farther: inverted before use.
    Depth,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    Relative,
    Metric,
}

/// A depth network's contract.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthCard {
    pub name: String,
    /// `None`: the graph's fixed input size.
    pub size: Option<SizePolicy>,
    pub colour: ColourOrder,
    pub range: ValueRange,
    /// Per channel of the tensor (in its colour order), in the units of `range`.
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub layout: Layout,
    pub output: OutputKind,
    pub scale: Scale,
    /// The output to read depth from (default: `depth`, else the first that is not `segmentation`).
    pub output_name: Option<String>,
    /// The foreground-probability output (default: `segmentation` when the model has one).
    pub foreground_output: Option<String>,
}

/// How the user chose the card.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CardChoice {
    /// `--depth-model-card FILE`.
    pub file: Option<PathBuf>,
    /// `--depth-model-kind NAME`.
    pub kind: Option<String>,
}

/// A card checked against the model's input: the size to use and where the frame axis is.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedCard {
    pub card: DepthCard,
    pub size: SizePolicy,
    /// The input is `[1,T,3,H,W]` (Video Depth Anything); one frame is given (T = 1).
    pub frames_axis: bool,
}

fn base(name: &str, size: Option<SizePolicy>, imagenet: bool) -> DepthCard {
    DepthCard {
        name: name.to_string(),
        size,
        colour: ColourOrder::Rgb,
        range: ValueRange::Unit,
        mean: if imagenet { IMAGENET_MEAN } else { [0.0; 3] },
        std: if imagenet { IMAGENET_STD } else { [1.0; 3] },
        layout: Layout::Nchw,
        output: OutputKind::Disparity,
        scale: Scale::Relative,
        output_name: None,
        foreground_output: None,
    }
}

impl DepthCard {
    /// A built-in card by name (see [`KINDS`]).
    pub fn builtin(name: &str) -> Result<Self> {
        let aspect = |long, multiple| Some(SizePolicy::Aspect { long, multiple });
        Ok(match name {
            "deeplens" => base(name, aspect(256, 32), false),
            "depth-anything-v2" | "video-depth-anything" => base(name, aspect(518, 14), true),
            "midas-small" => base(name, Some(SizePolicy::Fixed { width: 256, height: 256 }), true),
            "tcmonodepth" => DepthCard { range: ValueRange::Byte, ..base(name, Some(SizePolicy::Fixed { width: 320, height: 192 }), false) },
            _ => crate::fail!(Model, "unknown depth model kind '{name}' (kinds: {})", KINDS.join(", ")),
        })
    }

    /// Read a card from a TOML file (at most [`MAX_CARD_BYTES`]).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = crate::config::read_text_limited(path, MAX_CARD_BYTES, "depth model card")?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parse a card's TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let raw: RawCard = toml::from_str(text).map_err(|e| crate::err!(Model, "depth model card {origin}: {}", e.message().trim()))?;
        raw.into_card(origin).map_err(|e| crate::err!(Model, "depth model card {origin}: {e}"))
    }

    /// The card of the project's own models, from their ONNX metadata; `None` without it.
    pub fn from_metadata(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        if let Some(text) = get("deeplens.card") {
            return Self::from_toml(&text, "in the model's metadata (deeplens.card)").map(Some);
        }
        match get("deeplens.kind").as_deref() {
            None => return Ok(None),
            Some("depth") => {}
            Some(other) => crate::fail!(Model, "the model is a deeplens '{other}' model, not a depth model"),
        }
        let num = |key: &str, default: usize| -> Result<usize> {
            get(key).map_or(Ok(default), |v| v.trim().parse().map_err(|_| crate::err!(Model, "the model's metadata {key} = '{v}' is not a whole number")))
        };
        let card = DepthCard { size: Some(SizePolicy::Aspect { long: num("deeplens.input_long_side", 256)?, multiple: num("deeplens.input_multiple", 32)? }), ..Self::builtin("deeplens")? };
        card.validate().map_err(|e| crate::err!(Model, "the model's deeplens metadata: {e}"))?;
        Ok(Some(card))
    }

    /// The card that fits an input of this shape when nothing else says (see the README).
    pub fn detect(dims: &[i64]) -> Result<Self> {
        if dims.len() == 5 {
            return Self::builtin("video-depth-anything");
        }
        if dims.len() != 4 {
            crate::fail!(Model, "not a depth model: its input has shape {dims:?}, not an image tensor [1,3,H,W] or [1,H,W,3]");
        }
        let layout = if dims[3] == 3 && dims[1] != 3 { Layout::Nhwc } else { Layout::Nchw };
        let (h, w) = match layout {
            Layout::Nchw => (dims[2], dims[3]),
            Layout::Nhwc => (dims[1], dims[2]),
        };
        let card = match (w, h) {
            (320, 192) => Self::builtin("tcmonodepth")?,
            (256, 256) => Self::builtin("midas-small")?,
            (w, h) if w > 0 && h > 0 => base("standard (ImageNet, the graph's fixed size)", None, true),
            _ => Self::builtin("depth-anything-v2")?,
        };
        Ok(DepthCard { layout, ..card })
    }

    /// Choose the card for a model: the card file, a `MODEL.onnx.toml` beside it, its metadata,
    /// the named kind, or detection from the input shape. Returns the card and where it came from.
    pub fn resolve(choice: &CardChoice, model: &Path, metadata: impl Fn(&str) -> Option<String>, dims: &[i64]) -> Result<(Self, String)> {
        if let Some(f) = &choice.file {
            return Ok((Self::from_file(f)?, format!("card {}", f.display())));
        }
        let mut beside = model.as_os_str().to_owned();
        beside.push(".toml");
        let beside = PathBuf::from(beside);
        if beside.is_file() {
            return Ok((Self::from_file(&beside)?, format!("card {}", beside.display())));
        }
        if let Some(c) = Self::from_metadata(metadata)? {
            return Ok((c, "the model's metadata".into()));
        }
        if let Some(k) = &choice.kind {
            return Ok((Self::builtin(k)?, format!("--depth-model-kind {k}")));
        }
        Ok((Self::detect(dims)?, "the input shape".into()))
    }

    fn validate(&self) -> Result<()> {
        match self.size {
            Some(SizePolicy::Fixed { width, height }) => {
                if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
                    crate::fail!(Model, "input size {width}×{height} is out of range (each side 1 to {MAX_SIDE})");
                }
            }
            Some(SizePolicy::Aspect { long, multiple }) => {
                if !(1..=MAX_SIDE).contains(&long) {
                    crate::fail!(Model, "long side {long} is out of range (1 to {MAX_SIDE})");
                }
                if !(1..=long).contains(&multiple) {
                    crate::fail!(Model, "multiple {multiple} is out of range (1 to the long side, {long})");
                }
            }
            None => {}
        }
        if let Some(m) = self.mean.iter().find(|m| !m.is_finite()) {
            crate::fail!(Model, "mean {m} is not a finite number");
        }
        if let Some(s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            crate::fail!(Model, "std {s} must be a finite number above 0");
        }
        Ok(())
    }

    /// Check the card against the model's input shape (`-1` = dynamic) and settle the size.
    pub fn fit(self, input: &str, dims: &[i64]) -> Result<FittedCard> {
        let name = self.name.clone();
        let wrong = |what: String| crate::err!(Model, "depth model card '{name}' does not fit the model: {what}");
        let frames_axis = dims.len() == 5;
        if !(dims.len() == 4 || frames_axis) {
            crate::fail!(Model, "not a depth model: its input '{input}' has shape {dims:?}, not an image tensor [1,3,H,W] or [1,H,W,3]");
        }
        if frames_axis && self.layout != Layout::Nchw {
            return Err(wrong(format!("the input '{input}' is {dims:?} ([1,T,3,H,W]) but the card says NHWC")));
        }
        let d = &dims[dims.len() - 4..];
        if dims[0] > 1 || (frames_axis && d[0] > 1) {
            let what = if frames_axis { "frames" } else { "pictures" };
            return Err(wrong(format!("the input '{input}' {dims:?} takes {} {what} at once; deeplens gives one (export it with that axis 1 or dynamic)", if frames_axis { d[0] } else { dims[0] })));
        }
        let (c, h, w) = match self.layout {
            Layout::Nchw => (d[1], d[2], d[3]),
            Layout::Nhwc => (d[3], d[1], d[2]),
        };
        if c != 3 && c != -1 {
            let layout = if self.layout == Layout::Nchw { "NCHW [1,3,H,W]" } else { "NHWC [1,H,W,3]" };
            return Err(wrong(format!("the card says {layout} but the input '{input}' is {dims:?}")));
        }
        if w > MAX_SIDE as i64 || h > MAX_SIDE as i64 {
            return Err(wrong(format!("the input '{input}' is {w}×{h}, larger than {MAX_SIDE} on a side")));
        }
        let size = match (self.size, w > 0, h > 0) {
            (Some(SizePolicy::Fixed { width, height }), gw, gh) => {
                if (gw && w as usize != width) || (gh && h as usize != height) {
                    return Err(wrong(format!("the card gives input {width}×{height} but the model's input '{input}' is {}×{}", dim(w), dim(h))));
                }
                SizePolicy::Fixed { width, height }
            }
            (_, true, true) => SizePolicy::Fixed { width: w as usize, height: h as usize },
            (Some(p @ SizePolicy::Aspect { .. }), false, false) => p,
            (Some(SizePolicy::Aspect { .. }), ..) => {
                return Err(wrong(format!("the model fixes only one side of its input ({}×{}); give the card input_size = [W, H]", dim(w), dim(h))));
            }
            (None, ..) => return Err(wrong(format!("the card gives no input size and the model's input '{input}' is {}×{}", dim(w), dim(h)))),
        };
        Ok(FittedCard { card: self, size, frames_axis })
    }
}

fn dim(v: i64) -> String {
    if v > 0 {
        v.to_string()
    } else {
        "dynamic".into()
    }
}

impl FittedCard {
    /// The input size for a picture of `w`×`h`.
    pub fn input_size(&self, w: usize, h: usize) -> (usize, usize) {
        match self.size {
            SizePolicy::Fixed { width, height } => (width, height),
            SizePolicy::Aspect { long, multiple } => {
                let s = long as f64 / w.max(h).max(1) as f64;
                let r = |v: usize| (((v as f64 * s) / multiple as f64).round() as usize).max(1) * multiple;
                (r(w), r(h))
            }
        }
    }

    /// The input tensor for a picture already resized to [`input_size`](Self::input_size):
    /// its shape and values.
    pub fn tensor(&self, img: &RgbImage) -> (Vec<usize>, Vec<f32>) {
        let (w, h) = (img.width, img.height);
        let card = &self.card;
        let gain = if card.range == ValueRange::Byte { 255.0 } else { 1.0 };
        let order = if card.colour == ColourOrder::Bgr { [2, 1, 0] } else { [0, 1, 2] };
        let mut data = vec![0.0f32; 3 * w * h];
        for y in 0..h {
            for x in 0..w {
                let p = img.pixel(x, y);
                for (c, &src) in order.iter().enumerate() {
                    let v = (p[src] * gain - card.mean[c]) / card.std[c];
                    let at = match card.layout {
                        Layout::Nchw => (c * h + y) * w + x,
                        Layout::Nhwc => (y * w + x) * 3 + c,
                    };
                    data[at] = v;
                }
            }
        }
        let mut shape = match card.layout {
            Layout::Nchw => vec![1, 3, h, w],
            Layout::Nhwc => vec![1, h, w, 3],
        };
        if self.frames_axis {
            shape.insert(1, 1);
        }
        (shape, data)
    }

    /// Turn the raw output into "larger = nearer" in place (before min-max normalisation).
    pub fn to_disparity(&self, values: &mut [f32]) {
        for v in values.iter_mut() {
            if !v.is_finite() {
                *v = 0.0;
            }
            if self.card.output == OutputKind::Depth {
                *v = match self.card.scale {
                    Scale::Relative => -*v,
                    // Metric depth: disparity is its inverse; no depth (≤ 0) reads as farthest.
                    Scale::Metric => if *v > 0.0 { 1.0 / *v } else { 0.0 },
                };
            }
        }
    }
}

/// The card's TOML form; every field optional over `base` (a built-in kind) or the defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCard {
    base: Option<String>,
    name: Option<String>,
    input_size: Option<[usize; 2]>,
    long_side: Option<usize>,
    multiple: Option<usize>,
    colour_order: Option<ColourOrder>,
    value_range: Option<ValueRange>,
    mean: Option<[f32; 3]>,
    std: Option<[f32; 3]>,
    layout: Option<Layout>,
    output: Option<OutputKind>,
    scale: Option<Scale>,
    output_name: Option<String>,
    foreground_output: Option<String>,
}

impl RawCard {
    fn into_card(self, origin: &str) -> Result<DepthCard> {
        let mut c = match &self.base {
            Some(b) => DepthCard::builtin(b)?,
            None => base(origin, None, false),
        };
        c.name = self.name.unwrap_or_else(|| origin.to_string());
        match (self.input_size, self.long_side, self.multiple) {
            (Some(_), Some(_), _) => crate::fail!(Model, "give either input_size = [W, H] or long_side, not both"),
            (Some(_), None, Some(_)) => crate::fail!(Model, "multiple goes with long_side, not with a fixed input_size"),
            (Some([width, height]), None, None) => c.size = Some(SizePolicy::Fixed { width, height }),
            (None, Some(long), m) => c.size = Some(SizePolicy::Aspect { long, multiple: m.unwrap_or(1) }),
            (None, None, Some(m)) => match c.size {
                Some(SizePolicy::Aspect { long, .. }) => c.size = Some(SizePolicy::Aspect { long, multiple: m }),
                _ => crate::fail!(Model, "multiple needs long_side"),
            },
            (None, None, None) => {}
        }
        c.colour = self.colour_order.unwrap_or(c.colour);
        c.range = self.value_range.unwrap_or(c.range);
        c.mean = self.mean.unwrap_or(c.mean);
        c.std = self.std.unwrap_or(c.std);
        c.layout = self.layout.unwrap_or(c.layout);
        c.output = self.output.unwrap_or(c.output);
        c.scale = self.scale.unwrap_or(c.scale);
        c.output_name = self.output_name.or(c.output_name);
        c.foreground_output = self.foreground_output.or(c.foreground_output);
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DepthCard> {
        DepthCard::from_toml(text, "test.toml")
    }

    fn err(r: Result<impl std::fmt::Debug>) -> String {
        format!("{:#}", r.unwrap_err())
    }

    #[test]
    fn builtins_have_their_contracts() {
        let da = DepthCard::builtin("depth-anything-v2").unwrap();
        assert_eq!(da.size, Some(SizePolicy::Aspect { long: 518, multiple: 14 }));
        assert_eq!(da.mean, IMAGENET_MEAN);
        let tc = DepthCard::builtin("tcmonodepth").unwrap();
        assert_eq!((tc.size, tc.range, tc.std), (Some(SizePolicy::Fixed { width: 320, height: 192 }), ValueRange::Byte, [1.0; 3]));
        assert!(err(DepthCard::builtin("dpt-huge")).contains("unknown depth model kind 'dpt-huge'"));
    }

    #[test]
    fn detection_from_shapes() {
        assert_eq!(DepthCard::detect(&[1, 3, 192, 320]).unwrap().name, "tcmonodepth");
        assert_eq!(DepthCard::detect(&[1, 3, 256, 256]).unwrap().name, "midas-small");
        assert_eq!(DepthCard::detect(&[1, 3, -1, -1]).unwrap().name, "depth-anything-v2");
        assert_eq!(DepthCard::detect(&[1, -1, 3, -1, -1]).unwrap().name, "video-depth-anything");
        let nhwc = DepthCard::detect(&[1, 192, 320, 3]).unwrap();
        assert_eq!((nhwc.name.as_str(), nhwc.layout), ("tcmonodepth", Layout::Nhwc));
        assert!(DepthCard::detect(&[1, 3, 64]).is_err());
    }

    #[test]
    fn toml_fields_and_errors() {
        let c = parse("base = \"midas-small\"\ncolour_order = \"bgr\"\noutput = \"depth\"\nscale = \"metric\"").unwrap();
        assert_eq!((c.colour, c.output, c.scale, c.mean), (ColourOrder::Bgr, OutputKind::Depth, Scale::Metric, IMAGENET_MEAN));
        let c = parse("long_side = 384\nmultiple = 32\nvalue_range = \"0-255\"\nlayout = \"nhwc\"").unwrap();
        assert_eq!((c.size, c.range, c.layout), (Some(SizePolicy::Aspect { long: 384, multiple: 32 }), ValueRange::Byte, Layout::Nhwc));
        assert!(err(parse("long_side = 0")).contains("long side 0"));
        assert!(err(parse("long_side = 100000")).contains("out of range"));
        assert!(err(parse("input_size = [320, 0]")).contains("out of range"));
        assert!(err(parse("std = [0.2, 0.0, 0.2]")).contains("std 0"));
        assert!(err(parse("mean = [nan, 0.0, 0.2]")).contains("mean NaN"));
        assert!(err(parse("layout = \"nchwx\"")).contains("test.toml"));
        assert!(err(parse("colour = \"rgb\"")).contains("unknown field"));
        assert!(err(parse("base = \"nope\"")).contains("unknown depth model kind"));
        assert!(err(parse("input_size = [320, 192]\nlong_side = 320")).contains("not both"));
    }

    #[test]
    fn fitting_to_the_graph() {
        let tc = DepthCard::builtin("tcmonodepth").unwrap();
        assert!(tc.clone().fit("x", &[1, 3, 192, 320]).is_ok());
        assert!(tc.clone().fit("x", &[1, 3, -1, -1]).is_ok());
        assert!(err(tc.clone().fit("x", &[1, 3, 256, 256])).contains("320×192"));
        let nhwc = DepthCard { layout: Layout::Nhwc, ..tc };
        assert!(err(nhwc.fit("x", &[1, 3, 192, 320])).contains("NHWC"));
        let da = DepthCard::builtin("depth-anything-v2").unwrap();
        let f = da.clone().fit("x", &[1, 3, -1, -1]).unwrap();
        assert_eq!(f.input_size(1280, 720), (518, 294));
        // An aspect card on a fixed graph takes the graph's size.
        assert_eq!(da.clone().fit("x", &[1, 3, 518, 518]).unwrap().size, SizePolicy::Fixed { width: 518, height: 518 });
        assert!(err(da.clone().fit("x", &[1, 3, 518, -1])).contains("only one side"));
        assert!(err(da.clone().fit("x", &[1, 8, 3, -1, -1])).contains("8 frames"));
        assert!(da.clone().fit("x", &[1, -1, 3, -1, -1]).unwrap().frames_axis);
        assert!(err(da.fit("x", &[1, 3, 8192, 8192])).contains("4096"));
    }

    #[test]
    fn tensors_follow_the_card() {
        let mut img = RgbImage::new(2, 1);
        img.data.copy_from_slice(&[1.0, 0.5, 0.0, 0.0, 0.0, 0.0]);
        let tc = DepthCard { colour: ColourOrder::Bgr, layout: Layout::Nhwc, ..DepthCard::builtin("tcmonodepth").unwrap() }.fit("x", &[1, -1, -1, 3]).unwrap();
        let (shape, data) = tc.tensor(&img);
        assert_eq!(shape, vec![1, 1, 2, 3]);
        assert_eq!(&data[..3], &[0.0, 127.5, 255.0]);
        let mut d = [1.0f32, 4.0, 0.0];
        let metric = FittedCard { card: DepthCard { output: OutputKind::Depth, scale: Scale::Metric, ..tc.card.clone() }, ..tc.clone() };
        metric.to_disparity(&mut d);
        assert_eq!(d, [1.0, 0.25, 0.0]);
    }
}
