//! Encoding and muxing.

use super::input::{OtherStream, StreamPacket, VideoInfo};
use super::audio::AudioTranscoder;
use super::{ffmpeg, init};
use deeplens_core::frame::{to_u16, to_u8, RgbImage};
use deeplens_core::{ErrorKind, Kind, Result};
use ffmpeg::format::Pixel;
use ffmpeg::{codec, encoder, format, frame, media, Packet, Rational};
use std::collections::HashMap;
use std::ffi::CString;
use std::path::PathBuf;

/// Where and how to write.
#[derive(Clone, Debug)]
pub struct OutputSpec {
    /// The file to write (a temporary name; the caller renames it), or `-` for stdout.
    pub path: PathBuf,
    /// Container name (ffmpeg's `-f`); needed for stdout, else guessed from the extension.
    pub format: Option<String>,
    /// Video encoder; `None`: libx264, or the container's own when it cannot hold H.264.
    pub codec: Option<String>,
    pub crf: Option<f32>,
    pub preset: Option<String>,
    pub pix_fmt: Option<String>,
    pub encoder_options: Vec<(String, String)>,
    /// Audio encoder for audio the container cannot hold as it is (default: the container's own).
    pub audio_codec: Option<String>,
    /// The name to use in messages (the target, not the temporary file).
    pub display: Option<String>,
}

impl Default for OutputSpec {
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            format: None,
            codec: None,
            crf: None,
            preset: None,
            pix_fmt: None,
            encoder_options: Vec::new(),
            audio_codec: None,
            display: None,
        }
    }
}

struct CopyMap {
    ost: usize,
    in_tb: Rational,
    out_tb: Rational,
    offset: i64,
}

pub struct Muxer {
    octx: format::context::Output,
    encoder: encoder::Video,
    ost: usize,
    in_tb: Rational,
    out_tb: Rational,
    pix: Pixel,
    width: usize,
    height: usize,
    color_space: i32,
    full_range: bool,
    others: OtherStreams,
    scaler: Option<ffmpeg::software::scaling::Context>,
    rgb: Option<frame::Video>,
    /// The picture handed to the encoder, reused (made writable again when the encoder still
    /// holds it).
    yuv: Option<frame::Video>,
    /// Scratch of the 4:2:0 conversion, kept between frames.
    chroma_scratch: Vec<[f32; 3]>,
    /// Shift applied to every timestamp (video time base) so a cut starts at zero.
    offset_pts: i64,
    frame_rate: Rational,
    frames: u64,
    codec_name: String,
}

// The scaler is created lazily inside the thread that encodes, so a `Muxer` made on one thread
// and moved to another never carries a swscale context across.
unsafe impl Send for Muxer {}

/// The names people use for containers FFmpeg calls otherwise.
fn format_alias(f: &str) -> &str {
    match f {
        "y4m" => "yuv4mpegpipe",
        "mkv" => "matroska",
        other => other,
    }
}

/// Open the output container: the format named, or the one the extension says.
fn open_container(spec: &OutputSpec, url: &std::path::Path, to_stdout: bool) -> Result<format::context::Output> {
    let alias = spec.format.as_deref().map(format_alias);
    let octx = match (alias, to_stdout) {
        (Some(f), _) => format::output_as(url, f).map_err(|e| deeplens_core::err!(Output, "cannot write {} as '{}': {e}", show(spec, to_stdout), deeplens_core::printable(f, 64)))?,
        (None, true) => deeplens_core::fail!(Output, "writing to stdout needs --output-format (for example nut or y4m)"),
        (None, false) => format::output(url).map_err(|e| match e {
            ffmpeg::Error::MuxerNotFound | ffmpeg::Error::Other { errno: ffmpeg::util::error::EINVAL } => unknown_container(spec, to_stdout),
            other => deeplens_core::err!(Output, "cannot write {}: {other}", show(spec, to_stdout)),
        })?,
    };
    Ok(octx)
}

fn unknown_container(spec: &OutputSpec, to_stdout: bool) -> deeplens_core::Error {
    deeplens_core::err!(Output, "{}: unknown output container for this extension (use .mp4, .mkv, .mov, .webm …)", show(spec, to_stdout))
}

impl OutputSpec {
    /// The encoder settings checked against this FFmpeg before any work starts: the container
    /// (named, or by the output's extension), the video and audio encoders, the pixel format, the
    /// crf and preset. What only the source decides (its bit depth, its audio) is checked when the
    /// output opens.
    pub fn check(&self) -> Result<()> {
        init()?;
        let to_stdout = self.path.as_os_str() == "-";
        let name = self.format.as_deref().map(format_alias).map(CString::new).transpose().map_err(|_| deeplens_core::err!(Output, "invalid --output-format"))?;
        let file = if to_stdout { None } else { Some(CString::new(self.path.to_string_lossy().as_bytes()).map_err(|_| deeplens_core::err!(Output, "invalid output name"))?) };
        if name.is_none() && to_stdout {
            deeplens_core::fail!(Output, "writing to stdout needs --output-format (for example nut or y4m)");
        }
        let ptr = unsafe { ffmpeg::ffi::av_guess_format(name.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()), file.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()), std::ptr::null()) };
        if ptr.is_null() {
            match &self.format {
                Some(f) => deeplens_core::fail!(Output, "unknown --output-format '{}' (see `ffmpeg -muxers`)", deeplens_core::printable(f, 64)),
                None => return Err(unknown_container(self, to_stdout)),
            }
        }
        let ofmt = unsafe { format::Output::wrap(ptr as *mut _) };
        if let Some(f) = &self.format {
            // A name FFmpeg matched only loosely (by the file's extension) is not the one asked for.
            if !ofmt.name().split(',').any(|n| n == format_alias(f)) {
                deeplens_core::fail!(Output, "unknown --output-format '{}' (see `ffmpeg -muxers`)", deeplens_core::printable(f, 64));
            }
        }
        let codec = choose_codec(self, &ofmt)?;
        let codec_name = codec.name().to_string();
        let video = codec.video().map_err(|_| deeplens_core::err!(Output, "'{codec_name}' is not a video encoder"))?;
        check_rate_control(&codec_name, self.crf, self.preset.as_deref())?;
        if self.pix_fmt.is_some() {
            named_pixel(self, &codec_name, &video)?;
        }
        if let Some(n) = &self.audio_codec {
            match encoder::find_by_name(n) {
                Some(c) if c.is_audio() => {}
                Some(_) => deeplens_core::fail!(Output, "--audio-codec '{}' is not an audio encoder", deeplens_core::printable(n, 64)),
                None => deeplens_core::fail!(Output, "unknown audio encoder '{}' (see `ffmpeg -encoders`)", deeplens_core::printable(n, 64)),
            }
        }
        Ok(())
    }
}

/// The video encoder: the one named, else libx264 where the container takes H.264, else the
/// container's own.
fn choose_codec(spec: &OutputSpec, ofmt: &format::Output) -> Result<ffmpeg::Codec> {
    let codec = match &spec.codec {
        Some(name) => encoder::find_by_name(name).ok_or_else(|| deeplens_core::err!(Output, "unknown video encoder '{}' (see `ffmpeg -encoders`)", deeplens_core::printable(name, 64)))?,
        None => {
            if ofmt.name() == "yuv4mpegpipe" {
                // y4m holds raw pictures only.
                return encoder::find_by_name("wrapped_avframe").or_else(|| encoder::find_by_name("rawvideo")).ok_or_else(|| deeplens_core::err!(Output, "this FFmpeg has no raw video encoder for y4m"));
            }
            let h264 = unsafe { ffmpeg::ffi::avformat_query_codec(ofmt.as_ptr(), ffmpeg::ffi::AVCodecID::AV_CODEC_ID_H264, 0) };
            let x264 = encoder::find_by_name("libx264");
            match x264 {
                Some(c) if h264 != 0 => c,
                _ => {
                    let id = unsafe { codec::Id::from((*ofmt.as_ptr()).video_codec) };
                    let c = encoder::find(id).ok_or_else(|| deeplens_core::err!(Output, "no encoder for the {} container's video codec {id:?}; pass --codec", ofmt.name()))?;
                    tracing::info!("the {} container does not take H.264: encoding with {}", ofmt.name(), c.name());
                    c
                }
            }
        }
    };
    Ok(codec)
}

/// The streams besides the video: copied where the container takes them, audio re-encoded where
/// it does not, others left out. Shared by the [`Muxer`] and the [`Remuxer`].
struct OtherStreams {
    copies: HashMap<usize, CopyMap>,
    transcoders: HashMap<usize, AudioTranscoder>,
}

impl OtherStreams {
    /// Add the output streams (before the header is written).
    fn add(octx: &mut format::context::Output, audio_codec: Option<&str>, others: &[OtherStream]) -> Result<Self> {
        let mut copies = HashMap::new();
        let mut transcoders = HashMap::new();
        let ofmt = octx.format();
        if ofmt.name() == "yuv4mpegpipe" {
            if !others.is_empty() {
                tracing::warn!("y4m holds one video stream only: the other streams are left out");
            }
            return Ok(Self { copies, transcoders });
        }
        for o in others {
            // FFmpeg's mp4 muxer takes FLAC and PCM only as an "experimental feature" (the header
            // then fails): re-encode them like audio the container cannot hold.
            let experimental = ofmt.name() == "mp4" && (o.params.id() == codec::Id::FLAC || format!("{:?}", o.params.id()).starts_with("PCM_"));
            let supported = if experimental { 0 } else { unsafe { ffmpeg::ffi::avformat_query_codec(ofmt.as_ptr(), o.params.id().into(), 0) } };
            if supported == 0 {
                if o.medium == media::Type::Audio {
                    let t = AudioTranscoder::new(octx, &o.params, o.time_base, audio_codec)?;
                    transcoders.insert(o.index, t);
                    continue;
                }
                tracing::warn!("stream {} ({:?}) cannot go into {}; left out", o.index, o.params.id(), ofmt.name());
                continue;
            }
            let mut s = octx.add_stream(encoder::find(codec::Id::None)).or_kind(Kind::Output)?;
            s.set_parameters(o.params.clone());
            unsafe {
                (*s.parameters().as_mut_ptr()).codec_tag = 0;
            }
            s.set_time_base(o.time_base);
            copies.insert(o.index, CopyMap { ost: s.index(), in_tb: o.time_base, out_tb: o.time_base, offset: 0 });
        }
        Ok(Self { copies, transcoders })
    }

    /// After the header: the time bases the container chose, and the shift of a cut.
    fn started(&mut self, octx: &format::context::Output, offset_seconds: Option<f64>) {
        for c in self.copies.values_mut() {
            c.out_tb = octx.stream(c.ost).unwrap().time_base();
            c.offset = offset_seconds.map(|s| (s / f64::from(c.in_tb)).round() as i64).unwrap_or(0);
        }
        for t in self.transcoders.values_mut() {
            t.out_tb = octx.stream(t.ost).unwrap().time_base();
            t.offset = offset_seconds.map(|s| (s / f64::from(t.in_time_base())).round() as i64).unwrap_or(0);
        }
    }

    /// Copy (or re-encode) one packet, untouched but for its timestamps' time base.
    fn write(&mut self, octx: &mut format::context::Output, sp: StreamPacket) -> Result<()> {
        if let Some(t) = self.transcoders.get_mut(&sp.stream) {
            return t.push(sp.packet, octx);
        }
        let Some(c) = self.copies.get(&sp.stream) else { return Ok(()) };
        let mut p = sp.packet;
        if c.offset != 0 {
            p.set_pts(p.pts().map(|v| v - c.offset));
            p.set_dts(p.dts().map(|v| v - c.offset));
        }
        p.rescale_ts(c.in_tb, c.out_tb);
        p.set_position(-1);
        p.set_stream(c.ost);
        p.write_interleaved(octx).map_err(|e| deeplens_core::err!(Output, "cannot write stream {}: {e}", sp.stream))?;
        Ok(())
    }

    fn finish(&mut self, octx: &mut format::context::Output) -> Result<()> {
        for t in self.transcoders.values_mut() {
            t.finish(octx)?;
        }
        Ok(())
    }
}

impl Muxer {
    /// Open the output, set up the video encoder and the copied streams, write the header.
    /// `offset_seconds` shifts every stream so the first converted frame starts at zero (for `--start`).
    pub fn new(spec: &OutputSpec, info: &VideoInfo, others: &[OtherStream], offset_seconds: Option<f64>) -> Result<Self> {
        init()?;
        let to_stdout = spec.path.as_os_str() == "-";
        let url = if to_stdout { PathBuf::from("pipe:1") } else { spec.path.clone() };
        let mut octx = open_container(spec, &url, to_stdout)?;
        let codec = choose_codec(spec, &octx.format())?;
        let codec_name = codec.name().to_string();
        let video = codec.video().map_err(|_| deeplens_core::err!(Output, "'{codec_name}' is not a video encoder"))?;
        let (w, h) = (info.width, info.height);
        let pix = choose_pixel(spec, &codec_name, info, &video)?;
        let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let mut enc = codec::context::Context::new_with_codec(codec).encoder().video().or_kind(Kind::Output)?;
        enc.set_width(w as u32);
        enc.set_height(h as u32);
        enc.set_format(pix);
        enc.set_time_base(info.time_base);
        if info.frame_rate.numerator() > 0 {
            enc.set_frame_rate(Some(info.frame_rate));
        }
        if global_header {
            add_global_header(&mut enc);
        }
        unsafe {
            let c = &mut *enc.as_mut_ptr();
            c.colorspace = std::mem::transmute::<i32, ffmpeg::ffi::AVColorSpace>(info.color_space);
            c.color_range = std::mem::transmute::<i32, ffmpeg::ffi::AVColorRange>(if info.color_range == 0 { 1 } else { info.color_range });
            c.color_primaries = std::mem::transmute::<i32, ffmpeg::ffi::AVColorPrimaries>(info.color_primaries);
            c.color_trc = std::mem::transmute::<i32, ffmpeg::ffi::AVColorTransferCharacteristic>(info.color_trc);
            // Chroma is written where the input had it (`yuv`), and said so.
            c.chroma_sample_location = std::mem::transmute::<i32, ffmpeg::ffi::AVChromaLocation>(info.chroma_location.clamp(0, 6));
        }
        let mut opts = ffmpeg::Dictionary::new();
        let is_x26x = codec_name.starts_with("libx26");
        check_rate_control(&codec_name, spec.crf, spec.preset.as_deref())?;
        if let Some(crf) = spec.crf {
            opts.set("crf", &format!("{crf}"));
        } else if is_x26x {
            opts.set("crf", "18");
        }
        if let Some(p) = &spec.preset {
            opts.set("preset", p);
        } else if is_x26x {
            opts.set("preset", "medium");
        }
        for (k, v) in &spec.encoder_options {
            let ck = CString::new(k.as_str()).map_err(|_| deeplens_core::err!(Output, "invalid encoder option name"))?;
            let found = unsafe { ffmpeg::ffi::av_opt_find(enc.as_mut_ptr() as *mut std::ffi::c_void, ck.as_ptr(), std::ptr::null(), 0, ffmpeg::ffi::AV_OPT_SEARCH_CHILDREN) };
            if found.is_null() {
                let shown: String = k.chars().take(64).flat_map(char::escape_debug).collect();
                deeplens_core::fail!(Output, "unknown encoder option '{shown}' for {codec_name} (see `ffmpeg -h encoder={codec_name}`)");
            }
            opts.set(k, v);
        }
        let encoder = enc.open_with(opts).map_err(|e| {
            // GPU encoders are built into FFmpeg but need the vendor's driver and a device at run time.
            let gpu = [("_nvenc", "an NVIDIA GPU with its driver (libcuda, libnvidia-encode)"), ("_vaapi", "a VA-API device (/dev/dri)"), ("_qsv", "an Intel Quick Sync device")]
                .iter()
                .find(|(suffix, _)| codec_name.ends_with(suffix));
            match gpu {
                Some((_, needs)) => deeplens_core::err!(Device, "cannot open encoder '{codec_name}': it needs {needs}, and none is usable here ({e}); choose a CPU encoder such as libx264"),
                None => deeplens_core::err!(Output, "cannot open encoder '{codec_name}' ({w}x{h} {pix:?}): {e}"),
            }
        })?;
        let ost = {
            let mut s = octx.add_stream(codec).or_kind(Kind::Output)?;
            s.set_parameters(&encoder);
            s.set_time_base(info.time_base);
            add_display_matrix(&mut s, info);
            s.index()
        };
        let mut streams = OtherStreams::add(&mut octx, spec.audio_codec.as_deref(), others)?;
        octx.write_header().map_err(|e| deeplens_core::err!(Output, "cannot write the header of {}: {e}", show(spec, to_stdout)))?;
        let out_tb = octx.stream(ost).unwrap().time_base();
        let offset_pts = offset_seconds.map(|s| (s / f64::from(info.time_base)).round() as i64 + info.start_pts).unwrap_or(0);
        streams.started(&octx, offset_seconds);
        Ok(Self {
            octx,
            encoder,
            ost,
            in_tb: info.time_base,
            out_tb,
            pix,
            width: w,
            height: h,
            color_space: info.color_space,
            full_range: info.color_range == 2,
            others: streams,
            scaler: None,
            rgb: None,
            yuv: None,
            chroma_scratch: Vec::new(),
            offset_pts,
            frame_rate: info.frame_rate,
            frames: 0,
            codec_name,
        })
    }

    pub fn frames_written(&self) -> u64 {
        self.frames
    }

    /// The video encoder's name (`libx264`, …).
    pub fn codec_name(&self) -> &str {
        &self.codec_name
    }

    /// The 8-bit 4:2:0 format the encoder takes, when it takes one at the frames' own size: a
    /// producer may then hand [`write_yuv420`](Self::write_yuv420) the picture itself (the
    /// frame engine's last upsampling step writes it band by band).
    pub fn yuv420_format(&self) -> Option<deeplens_core::yuv::Yuv420Format> {
        matches!(self.pix, Pixel::YUV420P | Pixel::YUVJ420P).then(|| deeplens_core::yuv::Yuv420Format {
            matrix: deeplens_core::yuv::Matrix::of(self.color_space),
            full_range: self.full_range || self.pix == Pixel::YUVJ420P,
            // SAFETY: the encoder this muxer opened and owns.
            siting: deeplens_core::yuv::Siting::of(unsafe { (*self.encoder.as_ptr()).chroma_sample_location } as i32),
        })
    }

    /// The encoder's reused picture, made writable (the encoder may still hold its buffer).
    fn picture(slot: &mut Option<frame::Video>, pix: Pixel, w: usize, h: usize) -> Result<&mut frame::Video> {
        let yuv = slot.get_or_insert_with(|| frame::Video::new(pix, w as u32, h as u32));
        // SAFETY: a frame this muxer made and owns; it gets its own buffer if the encoder still
        // references the old one.
        if unsafe { ffmpeg::ffi::av_frame_make_writable(yuv.as_mut_ptr()) } < 0 {
            deeplens_core::fail!(Output, "out of memory for a {w}x{h} frame");
        }
        Ok(yuv)
    }

    /// Encode one processed picture at its original timestamp.
    pub fn write_frame(&mut self, img: &RgbImage, pts: i64) -> Result<()> {
        let (w, h) = (self.width, self.height);
        let format = self.yuv420_format();
        let yuv = Self::picture(&mut self.yuv, self.pix, w, h)?;
        if let (Some(format), true) = (format, (img.width, img.height) == (w, h)) {
            // The common case, in one pass (see `deeplens_core::yuv`).
            format.from_rgb(img, &mut planes_420(yuv, h), &mut self.chroma_scratch);
        } else {
            self.convert_with_swscale(img)?;
        }
        self.send(pts)
    }

    /// Encode a picture already in the encoder's 4:2:0 format ([`yuv420_format`](Self::yuv420_format)).
    pub fn write_yuv420(&mut self, pic: &deeplens_core::yuv::Yuv420, pts: i64) -> Result<()> {
        let (w, h) = (self.width, self.height);
        if (pic.width, pic.height) != (w, h) || self.yuv420_format().is_none() {
            deeplens_core::fail!(Output, "a {}x{} 4:2:0 picture for a {w}x{h} {:?} encoder", pic.width, pic.height, self.pix);
        }
        let planes = planes_420(Self::picture(&mut self.yuv, self.pix, w, h)?, h);
        let cw = w.div_ceil(2);
        for ((dst, stride), (src, width)) in [(planes.y, (&pic.y, w)), (planes.u, (&pic.u, cw)), (planes.v, (&pic.v, cw))] {
            for (d, s) in dst.chunks_mut(stride).zip(src.chunks_exact(width)) {
                d[..width].copy_from_slice(s);
            }
        }
        self.send(pts)
    }

    /// RGB to the encoder's format through swscale, for everything [`deeplens_core::yuv`] does not cover.
    fn convert_with_swscale(&mut self, img: &RgbImage) -> Result<()> {
        let deep = self.pix.descriptor().map(|d| unsafe { (*d.as_ptr()).comp[0].depth } > 8).unwrap_or(false);
        let src_fmt = if deep { Pixel::RGB48LE } else { Pixel::RGB24 };
        if self.scaler.is_none() {
            let mut s = ffmpeg::software::scaling::Context::get(
                src_fmt,
                self.width as u32,
                self.height as u32,
                self.pix,
                self.width as u32,
                self.height as u32,
                ffmpeg::software::scaling::Flags::BICUBIC | ffmpeg::software::scaling::Flags::ACCURATE_RND | ffmpeg::software::scaling::Flags::FULL_CHR_H_INT,
            )
            .map_err(|e| deeplens_core::err!(Output, "cannot convert RGB to {:?}: {e}", self.pix))?;
            unsafe {
                let coef = ffmpeg::ffi::sws_getCoefficients(deeplens_core::yuv::matrix_code(self.color_space));
                ffmpeg::ffi::sws_setColorspaceDetails(s.as_mut_ptr(), coef, 1, coef, self.full_range as i32, 0, 1 << 16, 1 << 16);
            }
            self.scaler = Some(s);
            self.rgb = Some(frame::Video::new(src_fmt, self.width as u32, self.height as u32));
        }
        let rgb = self.rgb.as_mut().unwrap();
        let stride = rgb.stride(0);
        let (w, h) = (self.width, self.height);
        let data = rgb.data_mut(0);
        // Row by row, as slices zipped together: no index checks in the loop, so it vectorises.
        for (y, src) in img.data.chunks_exact(w * 3).enumerate().take(h) {
            if deep {
                for (c, &v) in data[y * stride..y * stride + w * 6].chunks_exact_mut(2).zip(src) {
                    c.copy_from_slice(&to_u16(v).to_le_bytes());
                }
            } else {
                for (b, &v) in data[y * stride..y * stride + w * 3].iter_mut().zip(src) {
                    *b = to_u8(v);
                }
            }
        }
        let yuv = self.yuv.as_mut().expect("made by write_frame");
        self.scaler.as_mut().unwrap().run(rgb, yuv).map_err(|e| deeplens_core::err!(Output, "colour conversion failed: {e}"))
    }

    /// Hand the converted picture to the encoder with its colour tags and timestamp.
    fn send(&mut self, pts: i64) -> Result<()> {
        let yuv = self.yuv.as_mut().expect("made by write_frame");
        unsafe {
            let f = &mut *yuv.as_mut_ptr();
            let c = &*self.encoder.as_ptr();
            f.colorspace = c.colorspace;
            f.color_range = c.color_range;
            f.color_primaries = c.color_primaries;
            f.color_trc = c.color_trc;
        }
        yuv.set_pts(Some(pts - self.offset_pts));
        self.encoder.send_frame(yuv).map_err(|e| deeplens_core::err!(Output, "encoder refused a frame: {e}"))?;
        self.frames += 1;
        self.drain()
    }

    fn drain(&mut self) -> Result<()> {
        let dur = (self.frame_rate.numerator() > 0).then(|| (f64::from(self.frame_rate.invert()) / f64::from(self.in_tb)).round() as i64);
        drain_encoder(&mut self.encoder, &mut self.octx, (self.ost, self.in_tb, self.out_tb), dur, "video")
    }

    /// Copy a packet of another stream, untouched but for its timestamps' time base.
    pub fn write_packet(&mut self, sp: StreamPacket) -> Result<()> {
        self.others.write(&mut self.octx, sp)
    }

    /// Flush the encoder and finish the container.
    pub fn finish(mut self) -> Result<u64> {
        self.encoder.send_eof().map_err(|e| deeplens_core::err!(Output, "{e}"))?;
        self.drain()?;
        self.others.finish(&mut self.octx)?;
        self.octx.write_trailer().map_err(|e| deeplens_core::err!(Output, "cannot finish the output: {e}"))?;
        Ok(self.frames)
    }
}

/// Write every packet the encoder has ready to stream `ost` (`in_tb` → `out_tb`); packets without
/// a duration get `frame_duration` (in `in_tb`), so the last frame keeps its length.
fn drain_encoder(enc: &mut encoder::Video, octx: &mut format::context::Output, (ost, in_tb, out_tb): (usize, Rational, Rational), frame_duration: Option<i64>, what: &str) -> Result<()> {
    let mut pkt = Packet::empty();
    while enc.receive_packet(&mut pkt).is_ok() {
        pkt.set_stream(ost);
        if let Some(d) = frame_duration.filter(|_| pkt.duration() == 0) {
            pkt.set_duration(d);
        }
        pkt.rescale_ts(in_tb, out_tb);
        pkt.write_interleaved(octx).map_err(|e| deeplens_core::err!(Output, "cannot write {what}: {e}"))?;
    }
    Ok(())
}

fn show(spec: &OutputSpec, stdout: bool) -> String {
    if stdout {
        "stdout".into()
    } else {
        spec.display.clone().unwrap_or_else(|| spec.path.display().to_string())
    }
}

/// The pixel format named by `--pix-fmt`, known to FFmpeg and taken by the encoder.
fn named_pixel(spec: &OutputSpec, codec_name: &str, video: &ffmpeg::codec::Video) -> Result<Pixel> {
    let name = spec.pix_fmt.as_deref().unwrap_or_default();
    let shown = deeplens_core::printable(name, 64);
    let c = CString::new(name).map_err(|_| deeplens_core::err!(Output, "invalid pixel format '{shown}'"))?;
    let id = unsafe { ffmpeg::ffi::av_get_pix_fmt(c.as_ptr()) };
    if id == ffmpeg::ffi::AVPixelFormat::AV_PIX_FMT_NONE {
        deeplens_core::fail!(Output, "unknown pixel format '{shown}' (see `ffmpeg -pix_fmts`)");
    }
    let p = Pixel::from(id);
    let supported: Vec<Pixel> = video.formats().map(|f| f.collect()).unwrap_or_default();
    if !supported.is_empty() && !supported.contains(&p) {
        deeplens_core::fail!(Output, "encoder '{codec_name}' does not support pixel format '{shown}'");
    }
    Ok(p)
}

/// The output pixel format: asked for, or the source's depth in 4:2:0 (4:4:4 when a side is odd
/// and the encoder needs even sizes for subsampled chroma), among what the encoder supports.
fn choose_pixel(spec: &OutputSpec, codec_name: &str, info: &VideoInfo, video: &ffmpeg::codec::Video) -> Result<Pixel> {
    if spec.pix_fmt.is_some() {
        return named_pixel(spec, codec_name, video);
    }
    let supported: Vec<Pixel> = video.formats().map(|f| f.collect()).unwrap_or_default();
    let odd = info.width % 2 == 1 || info.height % 2 == 1;
    let prefs: &[Pixel] = match (info.high_bit_depth, odd) {
        (false, false) => &[Pixel::YUV420P, Pixel::YUV444P],
        (true, false) => &[Pixel::YUV420P10LE, Pixel::YUV444P10LE, Pixel::YUV420P],
        (false, true) => &[Pixel::YUV444P, Pixel::YUV420P],
        (true, true) => &[Pixel::YUV444P10LE, Pixel::YUV444P, Pixel::YUV420P10LE],
    };
    if supported.is_empty() {
        return Ok(prefs[0]);
    }
    // The source's own format where the encoder takes it and the size allows it.
    let subsampled = info.pixel.descriptor().map(|d| d.log2_chroma_w() > 0 || d.log2_chroma_h() > 0).unwrap_or(true);
    if supported.contains(&info.pixel) && !(odd && subsampled) && info.pixel.descriptor().is_some_and(|d| d.nb_components() >= 3) {
        return Ok(info.pixel);
    }
    if let Some(p) = prefs.iter().find(|p| supported.contains(p)) {
        if odd && matches!(*p, Pixel::YUV444P | Pixel::YUV444P10LE) {
            tracing::info!("odd picture size {}x{}: encoding 4:4:4 so no row or column is lost", info.width, info.height);
        }
        return Ok(*p);
    }
    Ok(supported[0])
}

/// An already encoded video (a plan's segments, one after another) muxed with the input's
/// other streams, without re-encoding anything: what `deeplens join` writes.
pub struct Remuxer {
    octx: format::context::Output,
    ost: usize,
    in_tb: Rational,
    out_tb: Rational,
    frame_rate: Rational,
    others: OtherStreams,
}

// Holds no swscale context.
unsafe impl Send for Remuxer {}

impl Remuxer {
    /// Open `spec.path` (the container from `spec.format` or the extension) with a video stream of
    /// these codec parameters and time base, the display matrix of `info`, and `others`
    /// (shifted by `offset_seconds` like a converted cut).
    pub fn new(spec: &OutputSpec, video: &codec::Parameters, video_tb: Rational, info: &VideoInfo, others: &[OtherStream], offset_seconds: Option<f64>) -> Result<Self> {
        init()?;
        let mut octx = open_container(spec, &spec.path, false)?;
        let ost = {
            let mut s = octx.add_stream(encoder::find(codec::Id::None)).or_kind(Kind::Output)?;
            s.set_parameters(video.clone());
            unsafe {
                (*s.parameters().as_mut_ptr()).codec_tag = 0;
            }
            s.set_time_base(video_tb);
            add_display_matrix(&mut s, info);
            s.index()
        };
        let mut streams = OtherStreams::add(&mut octx, spec.audio_codec.as_deref(), others)?;
        octx.write_header().map_err(|e| deeplens_core::err!(Output, "cannot write the header of {}: {e}", show(spec, false)))?;
        let out_tb = octx.stream(ost).unwrap().time_base();
        streams.started(&octx, offset_seconds);
        Ok(Self { octx, ost, in_tb: video_tb, out_tb, frame_rate: info.frame_rate, others: streams })
    }

    /// One packet of the video, timestamps in the time base given to [`new`](Self::new).
    pub fn write_video(&mut self, mut p: Packet) -> Result<()> {
        if p.duration() == 0 && self.frame_rate.numerator() > 0 {
            // As the Muxer does: the last frame keeps its length in the container.
            p.set_duration((f64::from(self.frame_rate.invert()) / f64::from(self.in_tb)).round() as i64);
        }
        p.rescale_ts(self.in_tb, self.out_tb);
        p.set_position(-1);
        p.set_stream(self.ost);
        p.write_interleaved(&mut self.octx).map_err(|e| deeplens_core::err!(Output, "cannot write video: {e}"))
    }

    /// One packet of another stream of the input.
    pub fn write_packet(&mut self, sp: StreamPacket) -> Result<()> {
        self.others.write(&mut self.octx, sp)
    }

    pub fn finish(mut self) -> Result<()> {
        self.others.finish(&mut self.octx)?;
        self.octx.write_trailer().map_err(|e| deeplens_core::err!(Output, "cannot finish the output: {e}"))
    }
}

fn add_display_matrix(s: &mut format::stream::StreamMut, info: &VideoInfo) {
    if let Some(m) = &info.display_matrix {
        unsafe {
            let p = ffmpeg::ffi::av_stream_new_side_data(s.as_mut_ptr(), ffmpeg::ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX, m.len());
            if !p.is_null() {
                std::ptr::copy_nonoverlapping(m.as_ptr(), p, m.len());
            }
        }
    }
}

/// Depth maps as a 16-bit grey video (FFV1, lossless), one picture per frame: the values of the
/// [`Plane`](deeplens_core::frame::Plane) in [0, 1] scaled to 0–65535. Matroska unless the
/// extension says otherwise.
pub struct GreyWriter {
    octx: format::context::Output,
    encoder: encoder::Video,
    ost: usize,
    in_tb: Rational,
    out_tb: Rational,
    width: usize,
    height: usize,
    frame: frame::Video,
    frames: u64,
}

unsafe impl Send for GreyWriter {}

impl GreyWriter {
    pub fn new(path: &std::path::Path, width: usize, height: usize, time_base: Rational, frame_rate: Rational) -> Result<Self> {
        init()?;
        let mut octx = format::output(path).map_err(|e| deeplens_core::err!(Output, "cannot write {}: {e}", path.display()))?;
        let codec = encoder::find(codec::Id::FFV1).ok_or_else(|| deeplens_core::err!(Output, "this FFmpeg has no FFV1 encoder"))?;
        let mut enc = codec::context::Context::new_with_codec(codec).encoder().video().or_kind(Kind::Output)?;
        enc.set_width(width as u32);
        enc.set_height(height as u32);
        enc.set_format(Pixel::GRAY16LE);
        enc.set_time_base(time_base);
        if frame_rate.numerator() > 0 {
            enc.set_frame_rate(Some(frame_rate));
        }
        if octx.format().flags().contains(format::Flags::GLOBAL_HEADER) {
            add_global_header(&mut enc);
        }
        unsafe {
            (*enc.as_mut_ptr()).color_range = ffmpeg::ffi::AVColorRange::AVCOL_RANGE_JPEG;
        }
        let encoder = enc.open_with(ffmpeg::Dictionary::new()).map_err(|e| deeplens_core::err!(Output, "cannot open the FFV1 encoder ({width}x{height}): {e}"))?;
        let ost = {
            let mut s = octx.add_stream(codec).or_kind(Kind::Output)?;
            s.set_parameters(&encoder);
            s.set_time_base(time_base);
            s.index()
        };
        octx.write_header().map_err(|e| deeplens_core::err!(Output, "cannot write the header of {}: {e}", path.display()))?;
        let out_tb = octx.stream(ost).unwrap().time_base();
        let frame = frame::Video::new(Pixel::GRAY16LE, width as u32, height as u32);
        Ok(Self { octx, encoder, ost, in_tb: time_base, out_tb, width, height, frame, frames: 0 })
    }

    /// One depth map (resized to the writer's size if it differs) at `pts` (the input's time base).
    pub fn write(&mut self, plane: &deeplens_core::frame::Plane, pts: i64) -> Result<()> {
        let resized;
        let p = if (plane.width, plane.height) == (self.width, self.height) {
            plane
        } else {
            resized = plane.resize(self.width, self.height);
            &resized
        };
        let stride = self.frame.stride(0);
        let w = self.width;
        let data = self.frame.data_mut(0);
        for y in 0..self.height {
            let row = &mut data[y * stride..y * stride + w * 2];
            for (x, c) in row.chunks_exact_mut(2).enumerate() {
                let v = (p.data[y * w + x].clamp(0.0, 1.0) * 65535.0 + 0.5) as u16;
                c.copy_from_slice(&v.to_le_bytes());
            }
        }
        self.frame.set_pts(Some(pts));
        self.encoder.send_frame(&self.frame).map_err(|e| deeplens_core::err!(Output, "the FFV1 encoder refused a frame: {e}"))?;
        self.frames += 1;
        self.drain()
    }

    fn drain(&mut self) -> Result<()> {
        drain_encoder(&mut self.encoder, &mut self.octx, (self.ost, self.in_tb, self.out_tb), None, "depth")
    }

    /// Flush and close; the number of pictures written.
    pub fn finish(mut self) -> Result<u64> {
        self.encoder.send_eof().map_err(|e| deeplens_core::err!(Output, "{e}"))?;
        self.drain()?;
        self.octx.write_trailer().map_err(|e| deeplens_core::err!(Output, "cannot finish the depth video: {e}"))?;
        Ok(self.frames)
    }
}

/// x264's and x265's presets (the libraries print their own complaint to the terminal otherwise).
const X26X_PRESETS: [&str; 10] = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];

/// `--crf` and `--preset` checked before the encoder sees them: a crf is a finite number in the
/// encoder family's range (0–51 for x264/x265, 0–63 for the others that take one), a preset of
/// x264/x265 one of theirs.
fn check_rate_control(codec_name: &str, crf: Option<f32>, preset: Option<&str>) -> deeplens_core::Result<()> {
    let x26x = codec_name.starts_with("libx26");
    if let Some(crf) = crf {
        let max = if x26x { 51.0 } else { 63.0 };
        if !(crf.is_finite() && (0.0..=max).contains(&crf)) {
            deeplens_core::fail!(Options, "--crf {crf}: must be between 0 and {max} for {codec_name}");
        }
    }
    if let Some(p) = preset.filter(|p| x26x && !X26X_PRESETS.contains(p)) {
        deeplens_core::fail!(Options, "unknown --preset '{}' for {codec_name} (presets: {})", deeplens_core::printable(p, 64), X26X_PRESETS.join(", "));
    }
    Ok(())
}
/// Ask the encoder for global headers, keeping the flags it already has: an encoder's own
/// defaults live there (libx264's closed GOPs, `+cgop`, as the `ffmpeg` CLI gets them; replacing
/// the flags gave open GOPs, which `ffmpeg -c:v libx264` does not make).
fn add_global_header(enc: &mut ffmpeg::encoder::video::Video) {
    // SAFETY: the encoder context this muxer is setting up, not yet opened.
    let flags = codec::Flags::from_bits_truncate(unsafe { (*enc.as_ptr()).flags } as _);
    enc.set_flags(flags | codec::Flags::GLOBAL_HEADER);
}

/// The three planes of an 8-bit 4:2:0 picture `h` rows high, as mutable slices.
fn planes_420(yuv: &mut frame::Video, h: usize) -> deeplens_core::yuv::PlanesMut<'_> {
    let (sy, su, sv) = (yuv.stride(0), yuv.stride(1), yuv.stride(2));
    let ch = h.div_ceil(2);
    // SAFETY: the three planes of one frame are separate buffers (or separate ranges of one),
    // each at least `stride × rows` long, so the mutable slices do not overlap.
    let f = unsafe { &mut *yuv.as_mut_ptr() };
    let plane = |i: usize, stride: usize, rows: usize| unsafe { std::slice::from_raw_parts_mut(f.data[i], stride * rows) };
    deeplens_core::yuv::PlanesMut { y: (plane(0, sy, h), sy), u: (plane(1, su, ch), su), v: (plane(2, sv, ch), sv) }
}

