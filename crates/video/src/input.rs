//! Demuxing and decoding.

use super::{describe, ffmpeg, init};
use deeplens_core::frame::{Recycler, RgbImage};
use deeplens_core::{ErrorKind, Kind, Result};
use ffmpeg::format::Pixel;
use ffmpeg::{codec, decoder, format, frame, media, Packet, Rational};
use std::ffi::CString;

static DAMAGED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Damaged video packets skipped by every decode of this process so far (for run reports).
pub fn damaged_packets() -> u64 {
    DAMAGED.load(std::sync::atomic::Ordering::Relaxed)
}

/// What to open: a path or URL, with ffmpeg's `-f` and input options.
#[derive(Clone, Debug, Default)]
pub struct InputSpec {
    pub url: String,
    pub format: Option<String>,
    pub options: Vec<(String, String)>,
    /// Decode the video on this FFmpeg hardware device type (`cuda`, `vaapi`, …; ffmpeg's
    /// `-hwaccel`); frames are copied back to memory for the rest of the pipeline.
    pub hwaccel: Option<String>,
}

/// The video stream's properties, as the rest of the program needs them.
#[derive(Clone, Debug)]
pub struct VideoInfo {
    /// The video codec's name (`h264`, `hevc`, …).
    pub codec: String,
    pub width: usize,
    pub height: usize,
    /// Clockwise rotation to apply for display (0, 90, 180, 270).
    pub rotation: u32,
    pub time_base: Rational,
    pub frame_rate: Rational,
    pub fps: f64,
    pub frames: Option<u64>,
    pub duration: Option<f64>,
    pub high_bit_depth: bool,
    pub pixel: Pixel,
    pub color_space: i32,
    pub color_range: i32,
    pub color_primaries: i32,
    pub color_trc: i32,
    /// Where the chroma samples sit (`AVChromaLocation`), carried to the output.
    pub chroma_location: i32,
    /// The raw display matrix side data, carried to the output.
    pub display_matrix: Option<Vec<u8>>,
    pub start_pts: i64,
}

impl VideoInfo {
    /// Size as displayed (rotation applied).
    pub fn display_size(&self) -> (usize, usize) {
        if self.rotation % 180 == 90 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// A stream other than the processed video: copied (or re-encoded) into the output.
#[derive(Clone)]
pub struct OtherStream {
    pub index: usize,
    pub params: codec::Parameters,
    pub time_base: Rational,
    pub medium: media::Type,
}

/// One decoded picture.
pub struct DecodedFrame {
    pub index: u64,
    /// Presentation timestamp in the video stream's time base.
    pub pts: i64,
    /// Seconds from the first processed frame.
    pub t: f64,
    pub rgb: RgbImage,
    /// The frame had no timestamp, or one not after the previous frame's: `pts` was made up
    /// from the frame rate (a player shows such a file, but cannot seek to the frame by time).
    pub pts_made_up: bool,
}

/// A packet of another stream, on its way to the muxer.
pub struct StreamPacket {
    pub stream: usize,
    pub packet: Packet,
}

pub struct Demuxer {
    ictx: format::context::Input,
    video: usize,
    decoder: decoder::Video,
    pub info: VideoInfo,
    pub others: Vec<OtherStream>,
    url: String,
    recycler: Option<Recycler>,
}

/// Which part of the input to convert, in seconds from the start of the video stream.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cut {
    pub start: Option<f64>,
    pub duration: Option<f64>,
}

impl Demuxer {
    pub fn open(spec: &InputSpec) -> Result<Self> {
        init()?;
        let url = if spec.url == "-" { "pipe:0".to_string() } else { spec.url.clone() };
        if spec.format.is_none() && !url.contains(':') {
            let p = std::path::Path::new(&url);
            if !p.exists() {
                deeplens_core::fail!(Input, "{}: no such file", spec.url);
            }
            if p.is_dir() {
                deeplens_core::fail!(Input, "{}: is a directory, not a video", spec.url);
            }
            let md = std::fs::metadata(p).with_kind_context(Kind::Input, || format!("{}: cannot read", spec.url))?;
            if md.len() == 0 {
                deeplens_core::fail!(Input, "{}: empty file (0 bytes), not a video", spec.url);
            }
            std::fs::File::open(p).with_kind_context(Kind::Input, || format!("{}: cannot open", spec.url))?;
        }
        let mut dict = ffmpeg::Dictionary::new();
        for (k, v) in &spec.options {
            dict.set(k, v);
        }
        if spec.format.is_some() || url.starts_with("/dev/") {
            super::register_devices()?;
        }
        let ictx = match &spec.format {
            Some(f) => {
                let cf = CString::new(f.as_str()).map_err(|_| deeplens_core::err!(Input, "invalid format name '{f}'"))?;
                let ptr = unsafe { ffmpeg::ffi::av_find_input_format(cf.as_ptr()) };
                if ptr.is_null() {
                    deeplens_core::fail!(Input, "unknown input format '{f}' (see `ffmpeg -formats` / `ffmpeg -devices`)");
                }
                open_input(&url, ptr, dict).map_err(|e| match DeviceError::from_errno(f, &spec.url, &e) {
                    Some(d) => deeplens_core::Error::new(deeplens_core::Kind::Device, d),
                    None => deeplens_core::err!(Input, "{}: cannot open as '{f}': {}", spec.url, describe(e)),
                })?
            }
            None => open_input(&url, std::ptr::null(), dict).map_err(|e| deeplens_core::err!(Input, "{}: {}", spec.url, describe(e)))?,
        };
        if !ictx.1.is_empty() {
            let names: Vec<String> = ictx.1.iter().map(|k| k.chars().take(64).flat_map(char::escape_debug).collect()).collect();
            deeplens_core::fail!(Input, "{}: unknown input option{} {} (see `ffmpeg -h demuxer=…` / `ffmpeg -h protocol=…`)", spec.url, if names.len() > 1 { "s" } else { "" }, names.join(", "));
        }
        let ictx = ictx.0;
        let Some(vstream) = ictx.streams().best(media::Type::Video) else {
            deeplens_core::fail!(Input, "{}: has no video stream (audio-only or data file)", spec.url);
        };
        let video = vstream.index();
        let params = vstream.parameters();
        let codec_name = params.id().name().to_string();
        // The declared size, before the decoder is opened (opening allocates for it); checked
        // again below on the decoder's own size, which some decoders take from their extradata
        // at open and which sizes every converted frame.
        let (w, h) = params_size(&params);
        deeplens_core::frame::check_size(&spec.url, "its video", w, h)?;
        let mut ctx = codec::context::Context::from_parameters(params).map_err(|e| deeplens_core::err!(Input, "{}: {e}", spec.url))?;
        // The decoder refuses pictures above the limit too (a stream that grows mid-way).
        unsafe { (*ctx.as_mut_ptr()).max_pixels = deeplens_core::frame::MAX_PIXELS as i64 };
        if let Some(hw) = &spec.hwaccel {
            attach_hw_device(&mut ctx, hw, &codec_name)?;
        }
        let decoder = ctx.decoder().video().map_err(|e| deeplens_core::err!(Input, "{}: cannot decode its video: {e}", spec.url))?;
        if decoder.width() == 0 || decoder.height() == 0 {
            deeplens_core::fail!(Input, "{}: the video stream has no picture size (truncated or damaged file)", spec.url);
        }
        deeplens_core::frame::check_size(&spec.url, "its video", decoder.width(), decoder.height())?;
        let tb = vstream.time_base();
        let fr = {
            let a = vstream.avg_frame_rate();
            if a.numerator() > 0 && a.denominator() > 0 { a } else { vstream.rate() }
        };
        let fps = if fr.denominator() > 0 { fr.numerator() as f64 / fr.denominator() as f64 } else { 0.0 };
        let dur = if vstream.duration() > 0 {
            Some(vstream.duration() as f64 * f64::from(tb))
        } else if ictx.duration() > 0 {
            Some(ictx.duration() as f64 / ffmpeg::ffi::AV_TIME_BASE as f64)
        } else {
            None
        };
        let frames = if vstream.frames() > 0 {
            Some(vstream.frames() as u64)
        } else {
            dur.filter(|_| fps > 0.0).map(|d| (d * fps).round() as u64)
        };
        let display_matrix = vstream
            .side_data()
            .find(|sd| sd.kind() == codec::packet::side_data::Type::DisplayMatrix)
            .map(|sd| sd.data().to_vec());
        let rotation = display_matrix.as_deref().map(rotation_of).unwrap_or(0);
        let pixel = decoder.format();
        let high_bit_depth = pixel
            .descriptor()
            .map(|d| unsafe { (*d.as_ptr()).comp[0].depth } > 8)
            .unwrap_or(false);
        let raw = unsafe { &*decoder.as_ptr() };
        let info = VideoInfo {
            codec: codec_name,
            width: decoder.width() as usize,
            height: decoder.height() as usize,
            rotation,
            time_base: tb,
            frame_rate: fr,
            fps,
            frames,
            duration: dur,
            high_bit_depth,
            pixel,
            color_space: raw.colorspace as i32,
            color_range: raw.color_range as i32,
            color_primaries: raw.color_primaries as i32,
            color_trc: raw.color_trc as i32,
            chroma_location: raw.chroma_sample_location as i32,
            display_matrix,
            start_pts: if vstream.start_time() == ffmpeg::ffi::AV_NOPTS_VALUE { 0 } else { vstream.start_time() },
        };
        let others = ictx
            .streams()
            .filter(|s| s.index() != video)
            .filter(|s| matches!(s.parameters().medium(), media::Type::Audio | media::Type::Subtitle | media::Type::Video))
            .map(|s| OtherStream { index: s.index(), params: s.parameters().clone(), time_base: s.time_base(), medium: s.parameters().medium() })
            .collect();
        Ok(Self { ictx, video, decoder, info, others, url: spec.url.clone(), recycler: None })
    }

    /// Decode into the memory of frames handed back to `recycler` (the encoder's spent frames)
    /// when there are some.
    pub fn recycle(&mut self, recycler: Recycler) {
        self.recycler = Some(recycler);
    }

    /// The container's format name as FFmpeg knows it (`mov,mp4,m4a,…`, `png_pipe`, …).
    pub fn format_name(&self) -> String {
        self.ictx.format().name().to_string()
    }

    /// Decode until the end (or the cut's end, or `cancel`), calling `on_frame` with each RGB
    /// picture in presentation order and `on_packet` with the packets of the other streams.
    /// A callback returning `false` stops the run (its receiver is gone). Returns the number of
    /// frames delivered.
    pub fn run(
        mut self,
        cut: Cut,
        stop: &dyn Fn() -> bool,
        mut on_frame: impl FnMut(DecodedFrame) -> bool,
        mut on_packet: impl FnMut(StreamPacket) -> bool,
    ) -> Result<u64> {
        let tb = self.info.time_base;
        let start_pts = self.info.start_pts;
        let t_of = |pts: i64| (pts - start_pts) as f64 * f64::from(tb);
        if let Some(s) = cut.start.filter(|&s| s > 0.0) {
            let ts = (s * ffmpeg::ffi::AV_TIME_BASE as f64) as i64;
            if let Err(e) = self.ictx.seek(ts, ..ts) {
                tracing::warn!("{}: cannot seek to {s} s ({e}); decoding from the start", self.url);
            }
        }
        let cut_start = cut.start.unwrap_or(0.0);
        let cut_end = cut.duration.map(|d| cut_start + d);
        let mut conv = RgbConverter::new(self.info.width, self.info.height, self.info.high_bit_depth);
        conv.recycler = self.recycler.take();
        let mut decoded = frame::Video::empty();
        let mut index = 0u64;
        let mut first_t: Option<f64> = None;
        let mut last_pts: Option<i64> = None;
        let frame_step = if self.info.frame_rate.numerator() > 0 {
            ((f64::from(self.info.frame_rate.invert()) / f64::from(tb)).round() as i64).max(1)
        } else {
            1
        };
        let mut done = false;
        let mut errors = 0usize;
        let mut receive = |dec: &mut decoder::Video, done: &mut bool, on_frame: &mut dyn FnMut(DecodedFrame) -> bool| -> Result<()> {
            while !*done && dec.receive_frame(&mut decoded).is_ok() {
                let given = decoded.timestamp().or(decoded.pts());
                let pts = given
                    .map(|p| match last_pts {
                        Some(l) if p <= l => l + frame_step,
                        _ => p,
                    })
                    .unwrap_or_else(|| last_pts.map_or(start_pts, |l| l + frame_step));
                let pts_made_up = given != Some(pts);
                let t_abs = t_of(pts);
                if t_abs + 1e-6 < cut_start {
                    continue;
                }
                if cut_end.is_some_and(|e| t_abs + 1e-6 >= e) {
                    *done = true;
                    break;
                }
                last_pts = Some(pts);
                let t0 = *first_t.get_or_insert(t_abs);
                let rgb = if is_hw_frame(&decoded) {
                    conv.convert(&download(&decoded)?)?
                } else {
                    conv.convert(&decoded)?
                };
                if !on_frame(DecodedFrame { index, pts, t: t_abs - t0, rgb, pts_made_up }) {
                    *done = true;
                }
                index += 1;
            }
            Ok(())
        };
        let video = self.video;
        loop {
            if done || stop() {
                break;
            }
            let Some(packet) = read_packet(&mut self.ictx, &self.url, stop)? else { break };
            let si = packet.stream();
            let stream = self.ictx.stream(si).expect("a packet's stream exists");
            if si == video {
                match self.decoder.send_packet(&packet) {
                    Ok(()) => {}
                    Err(ffmpeg::Error::Other { errno: ffmpeg::util::error::EAGAIN }) => {}
                    Err(e) => {
                        errors += 1;
                        DAMAGED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::warn!("{}: skipping a damaged video packet ({e})", self.url);
                        continue;
                    }
                }
                receive(&mut self.decoder, &mut done, &mut on_frame)?;
            } else if self.others.iter().any(|o| o.index == si) {
                if !in_cut(&packet, &stream, cut) {
                    continue;
                }
                if !on_packet(StreamPacket { stream: si, packet }) {
                    break;
                }
            }
        }
        if !stop() && !done {
            let _ = self.decoder.send_eof();
            receive(&mut self.decoder, &mut done, &mut on_frame)?;
        }
        if errors > 0 {
            tracing::warn!("{}: {errors} damaged packets skipped; converted what was decodable", self.url);
        }
        Ok(index)
    }
}

fn params_size(p: &codec::Parameters) -> (u32, u32) {
    let raw = unsafe { &*p.as_ptr() };
    (raw.width.max(0) as u32, raw.height.max(0) as u32)
}

/// Whether this FFmpeg has the hardware decoding method `name` (`--hwaccel`): one error line
/// listing the ones it has when not. Opening a device is left to the decoder.
pub fn check_hwaccel(name: &str) -> Result<()> {
    hw_device_type(name).map(drop)
}

/// FFmpeg's device type named `name`.
fn hw_device_type(name: &str) -> Result<ffmpeg::ffi::AVHWDeviceType> {
    use ffmpeg::ffi;
    let known = || {
        let mut names = Vec::new();
        let mut t = ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_NONE;
        loop {
            t = unsafe { ffi::av_hwdevice_iterate_types(t) };
            if t == ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_NONE {
                break names.join(", ");
            }
            let n = unsafe { ffi::av_hwdevice_get_type_name(t) };
            if !n.is_null() {
                names.push(unsafe { std::ffi::CStr::from_ptr(n) }.to_string_lossy().into_owned());
            }
        }
    };
    let cname = CString::new(name).map_err(|_| deeplens_core::err!(Options, "--hwaccel: invalid name"))?;
    let ty = unsafe { ffi::av_hwdevice_find_type_by_name(cname.as_ptr()) };
    if ty == ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_NONE {
        deeplens_core::fail!(Options, "--hwaccel {}: not a hardware decoding method of this FFmpeg (it has: {})", name.escape_debug(), known());
    }
    Ok(ty)
}

/// Gives the decoder context a hardware device of FFmpeg's type `name` (before it is opened), so
/// FFmpeg's decoder decodes there; one clear error when FFmpeg does not know the type, the codec
/// cannot decode on it, or no such device can be opened on this machine.
fn attach_hw_device(ctx: &mut codec::context::Context, name: &str, codec_name: &str) -> Result<()> {
    use ffmpeg::ffi;
    let ty = hw_device_type(name)?;
    let codec = unsafe { ffi::avcodec_find_decoder((*ctx.as_ptr()).codec_id) };
    // The decoder's hardware configurations end with a null one.
    let supported = !codec.is_null()
        && (0..)
            .map(|i| unsafe { ffi::avcodec_get_hw_config(codec, i) })
            .take_while(|c| !c.is_null())
            .any(|c| unsafe { (*c).device_type == ty && (*c).methods & ffi::AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX as i32 != 0 });
    if !supported {
        deeplens_core::fail!(Options, "--hwaccel {name}: FFmpeg's {codec_name} decoder cannot decode on {name}; leave --hwaccel out");
    }
    let mut dev: *mut ffi::AVBufferRef = std::ptr::null_mut();
    let r = unsafe { ffi::av_hwdevice_ctx_create(&mut dev, ty, std::ptr::null(), std::ptr::null_mut(), 0) };
    if r < 0 || dev.is_null() {
        deeplens_core::fail!(Device, "--hwaccel {name}: no usable {name} device on this machine ({}); leave --hwaccel out to decode on the CPU", describe(ffmpeg::Error::from(r)));
    }
    // The context owns the reference from here on (avcodec_free_context unrefs it).
    unsafe { (*ctx.as_mut_ptr()).hw_device_ctx = dev };
    Ok(())
}

/// A frame that lives on a hardware device (its data is a device surface, not pixels in memory).
fn is_hw_frame(f: &frame::Video) -> bool {
    unsafe { !(*f.as_ptr()).hw_frames_ctx.is_null() }
}

/// Copies a hardware frame back to memory (NV12, P010, … as the device gives it), keeping its
/// timestamps and colour properties.
fn download(f: &frame::Video) -> Result<frame::Video> {
    let mut sw = frame::Video::empty();
    let r = unsafe { ffmpeg::ffi::av_hwframe_transfer_data(sw.as_mut_ptr(), f.as_ptr(), 0) };
    if r < 0 {
        deeplens_core::fail!(Device, "--hwaccel: cannot copy a decoded frame back from the device ({})", describe(ffmpeg::Error::from(r)));
    }
    unsafe { ffmpeg::ffi::av_frame_copy_props(sw.as_mut_ptr(), f.as_ptr()) };
    Ok(sw)
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ask every blocking FFmpeg read or open of this process to give up (Ctrl-C): a network input
/// that accepts and never answers must not hold the program.
pub fn interrupt() {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

extern "C" fn interrupt_cb(_: *mut std::ffi::c_void) -> std::ffi::c_int {
    INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) as std::ffi::c_int
}

/// Capture formats of libavdevice: cameras and screens.
pub const DEVICE_FORMATS: &[&str] = &["v4l2", "video4linux2", "x11grab", "kmsgrab", "fbdev", "xcbgrab", "avfoundation", "dshow", "gdigrab", "decklink", "android_camera"];

/// A capture device that could not be opened, by cause: a variant to match on (in the core's
/// [`Device`](deeplens_core::Error::Device) error), not a message to search.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// Another program holds the device.
    #[error("camera {0} is busy: another program is using it")]
    Busy(String),
    /// This user may not open it.
    #[error("camera {0}: permission denied (is this user in the 'video' group?)")]
    PermissionDenied(String),
}

impl DeviceError {
    /// What an FFmpeg error opening `url` as `format` means, when the format is a capture device
    /// and the error is one of these causes.
    pub fn from_errno(format: &str, url: &str, e: &ffmpeg::Error) -> Option<Self> {
        let ffmpeg::Error::Other { errno } = *e else { return None };
        if !DEVICE_FORMATS.contains(&format) {
            return None;
        }
        match std::io::Error::from_raw_os_error(errno).kind() {
            std::io::ErrorKind::ResourceBusy | std::io::ErrorKind::WouldBlock => Some(Self::Busy(url.to_string())),
            std::io::ErrorKind::PermissionDenied => Some(Self::PermissionDenied(url.to_string())),
            _ => None,
        }
    }
}

/// `avformat_open_input` + `avformat_find_stream_info` with the interrupt callback set; the input
/// and the options FFmpeg did not know (left in the dictionary).
fn open_input(url: &str, fmt: *const ffmpeg::ffi::AVInputFormat, options: ffmpeg::Dictionary) -> std::result::Result<(format::context::Input, Vec<String>), ffmpeg::Error> {
    use ffmpeg::ffi::*;
    let curl = CString::new(url).map_err(|_| ffmpeg::Error::InvalidData)?;
    unsafe {
        let mut ps = avformat_alloc_context();
        if ps.is_null() {
            return Err(ffmpeg::Error::Other { errno: ffmpeg::util::error::ENOMEM });
        }
        (*ps).interrupt_callback = AVIOInterruptCB { callback: Some(interrupt_cb), opaque: std::ptr::null_mut() };
        let mut opts = options.disown();
        let res = avformat_open_input(&mut ps, curl.as_ptr(), fmt as *mut _, &mut opts);
        let left = ffmpeg::Dictionary::own(opts);
        let unknown: Vec<String> = left.iter().map(|(k, _)| k.to_string()).collect();
        if res < 0 {
            // avformat_open_input frees the context on failure.
            return Err(ffmpeg::Error::from(res));
        }
        let r = avformat_find_stream_info(ps, std::ptr::null_mut());
        if r < 0 {
            avformat_close_input(&mut ps);
            return Err(ffmpeg::Error::from(r));
        }
        Ok((format::context::Input::wrap(ps), unknown))
    }
}

/// Read errors in a row after which a read gives up (a stream that cannot go on: a file that
/// needs seeking read from a pipe, a dead network peer) instead of trying for ever.
const MAX_READ_ERRORS: u32 = 64;

/// The next packet of any stream, `None` at the end (or when `stop` says so while waiting). A
/// persistent read error ends the read with one error line.
fn read_packet(ictx: &mut format::context::Input, url: &str, stop: &dyn Fn() -> bool) -> Result<Option<Packet>> {
    let mut errors = 0;
    loop {
        let mut p = Packet::empty();
        match p.read(ictx) {
            Ok(()) => return Ok(Some(p)),
            Err(ffmpeg::Error::Eof) => return Ok(None),
            Err(ffmpeg::Error::Other { errno: ffmpeg::util::error::EAGAIN }) => {
                // A live source with nothing yet.
                if stop() {
                    return Ok(None);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => {
                errors += 1;
                if stop() {
                    return Ok(None);
                }
                if errors >= MAX_READ_ERRORS {
                    deeplens_core::fail!(Input, "{url}: reading stopped after {errors} errors in a row ({e}); a file with its index at the end cannot be read from a pipe, remux it with -movflags +faststart or give the file itself");
                }
            }
        }
    }
}

/// Whether a packet of a copied stream lies inside the cut. Without a cut every packet goes
/// through (AAC priming packets have negative times).
fn in_cut(packet: &Packet, stream: &format::stream::Stream, cut: Cut) -> bool {
    let cut_start = cut.start.unwrap_or(0.0);
    let cut_end = cut.duration.map(|d| cut_start + d);
    let Some(t) = packet.pts().or(packet.dts()).map(|p| p as f64 * f64::from(stream.time_base()) - stream_start(stream)) else {
        return true;
    };
    !((cut.start.is_some() && t + 1e-6 < cut_start) || cut_end.is_some_and(|e| t >= e))
}

/// A video packet as the container holds it: presentation timestamp (stream time base) and
/// whether it starts a keyframe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketMark {
    pub pts: i64,
    pub key: bool,
}

impl Demuxer {
    /// Read the video packets without decoding them (fast): each one's timestamp and keyframe
    /// flag, in file order, inside the cut. A plan cuts its segments at these keyframes.
    pub fn video_packets(mut self, cut: Cut) -> Result<Vec<PacketMark>> {
        let tb = f64::from(self.info.time_base);
        let start_pts = self.info.start_pts;
        let cut_start = cut.start.unwrap_or(0.0);
        let cut_end = cut.duration.map(|d| cut_start + d);
        let mut marks = Vec::new();
        while let Some(packet) = read_packet(&mut self.ictx, &self.url, &|| false)? {
            if packet.stream() != self.video {
                continue;
            }
            let Some(pts) = packet.pts().or(packet.dts()) else { continue };
            let t = (pts - start_pts) as f64 * tb;
            if t + 1e-6 < cut_start || cut_end.is_some_and(|e| t + 1e-6 >= e) {
                continue;
            }
            marks.push(PacketMark { pts, key: packet.is_key() });
        }
        Ok(marks)
    }

    /// The packets of the copied streams inside the cut, without decoding any video (a join
    /// muxes the input's audio this way). `on_packet` returning `false` stops the run.
    pub fn other_packets(mut self, cut: Cut, mut on_packet: impl FnMut(StreamPacket) -> bool) -> Result<()> {
        while let Some(packet) = read_packet(&mut self.ictx, &self.url, &|| false)? {
            let si = packet.stream();
            let stream = self.ictx.stream(si).expect("a packet's stream exists");
            if si == self.video || !self.others.iter().any(|o| o.index == si) || !in_cut(&packet, &stream, cut) {
                continue;
            }
            if !on_packet(StreamPacket { stream: si, packet }) {
                break;
            }
        }
        Ok(())
    }

    /// The video stream's codec parameters and time base (to copy it without re-encoding).
    pub fn video_parameters(&self) -> (codec::Parameters, Rational) {
        let s = self.ictx.stream(self.video).expect("the video stream exists");
        (s.parameters(), s.time_base())
    }

    /// The video packets as they are, in file order (`f` returning `false` stops).
    pub fn video_packets_raw(mut self, mut f: impl FnMut(Packet) -> Result<bool>) -> Result<()> {
        while let Some(packet) = read_packet(&mut self.ictx, &self.url, &|| false)? {
            if packet.stream() == self.video && !f(packet)? {
                break;
            }
        }
        Ok(())
    }
}

fn stream_start(s: &format::stream::Stream) -> f64 {
    if s.start_time() == ffmpeg::ffi::AV_NOPTS_VALUE {
        0.0
    } else {
        s.start_time() as f64 * f64::from(s.time_base())
    }
}

/// Clockwise display rotation from a display matrix (as `ffmpeg -autorotate` reads it).
fn rotation_of(m: &[u8]) -> u32 {
    if m.len() < 36 {
        return 0;
    }
    let deg = unsafe { ffmpeg::ffi::av_display_rotation_get(m.as_ptr() as *const i32) };
    if !deg.is_finite() {
        return 0;
    }
    // av_display_rotation_get is counter-clockwise.
    let cw = (-deg).rem_euclid(360.0);
    ((cw / 90.0).round() as u32 % 4) * 90
}


/// Decoded frames → RGB at the stream's nominal size, with the stream's own matrix and range.
pub(crate) struct RgbConverter {
    width: usize,
    height: usize,
    deep: bool,
    scaler: Option<(Pixel, u32, u32, ffmpeg::software::scaling::Context)>,
    out: frame::Video,
    /// Where spent frames come back from (see [`Demuxer::recycle`]).
    recycler: Option<Recycler>,
}

impl RgbConverter {
    pub(crate) fn new(width: usize, height: usize, deep: bool) -> Self {
        let fmt = if deep { Pixel::RGB48LE } else { Pixel::RGB24 };
        Self { width, height, deep, scaler: None, out: frame::Video::new(fmt, width as u32, height as u32), recycler: None }
    }

    /// Memory for the next frame: one handed back through the recycler, if any.
    fn buffer(&self) -> Vec<f32> {
        self.recycler.as_ref().map(|r| r.take()).unwrap_or_default()
    }

    pub(crate) fn convert(&mut self, src: &frame::Video) -> Result<RgbImage> {
        if src.format() == Pixel::GRAY16LE && (src.width() as usize, src.height() as usize) == (self.width, self.height) {
            // 16-bit grey (depth maps): every value as it is, no range or matrix conversion.
            return Ok(grey16_to_rgb(src, self.width, self.height));
        }
        if !self.deep && matches!(src.format(), Pixel::YUV420P | Pixel::YUVJ420P) && (src.width() as usize, src.height() as usize) == (self.width, self.height) {
            // The common case, in one pass (see `yuv`).
            let raw = unsafe { &*src.as_ptr() };
            let full = raw.color_range as i32 == 2 || src.format() == Pixel::YUVJ420P;
            let planes = deeplens_core::yuv::Planes { y: (src.data(0), src.stride(0)), u: (src.data(1), src.stride(1)), v: (src.data(2), src.stride(2)) };
            let m = deeplens_core::yuv::Matrix::of(raw.colorspace as i32);
            return Ok(deeplens_core::yuv::to_rgb_into(&planes, self.width, self.height, m, full, deeplens_core::yuv::Siting::of(raw.chroma_location as i32), self.buffer()));
        }
        let key = (src.format(), src.width(), src.height());
        if self.scaler.as_ref().map(|s| (s.0, s.1, s.2)) != Some(key) {
            let dst = if self.deep { Pixel::RGB48LE } else { Pixel::RGB24 };
            let ctx = ffmpeg::software::scaling::Context::get(
                key.0,
                key.1,
                key.2,
                dst,
                self.width as u32,
                self.height as u32,
                ffmpeg::software::scaling::Flags::BICUBIC | ffmpeg::software::scaling::Flags::ACCURATE_RND | ffmpeg::software::scaling::Flags::FULL_CHR_H_INT,
            )
            .map_err(|e| deeplens_core::err!(Input, "cannot convert {:?} to RGB: {e}", key.0))?;
            self.scaler = Some((key.0, key.1, key.2, ctx));
            let raw = unsafe { &*src.as_ptr() };
            let full = raw.color_range as i32 == 2;
            let cs = deeplens_core::yuv::matrix_code(raw.colorspace as i32);
            let s = &mut self.scaler.as_mut().unwrap().3;
            unsafe {
                let coef = ffmpeg::ffi::sws_getCoefficients(cs);
                ffmpeg::ffi::sws_setColorspaceDetails(s.as_mut_ptr(), coef, full as i32, coef, 1, 0, 1 << 16, 1 << 16);
            }
        }
        let s = &mut self.scaler.as_mut().unwrap().3;
        s.run(src, &mut self.out).map_err(|e| deeplens_core::err!(Input, "colour conversion failed: {e}"))?;
        let (w, h) = (self.width, self.height);
        let stride = self.out.stride(0);
        let data = self.out.data(0);
        // Built row by row without zeroing first (a frame is megabytes), each row a vectorised
        // map over the converter's bytes.
        let mut px = self.buffer();
        px.clear();
        px.reserve(w * h * 3);
        for y in 0..h {
            if self.deep {
                px.extend(data[y * stride..y * stride + w * 6].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as f32 * (1.0 / 65535.0)));
            } else {
                px.extend(data[y * stride..y * stride + w * 3].iter().map(|&b| b as f32 * (1.0 / 255.0)));
            }
        }
        let img = RgbImage { width: w, height: h, data: px };
        Ok(img)
    }
}

/// A 16-bit grey picture as RGB with three equal channels, values kept exactly (v / 65535).
fn grey16_to_rgb(src: &frame::Video, w: usize, h: usize) -> RgbImage {
    let stride = src.stride(0);
    let data = src.data(0);
    let mut img = RgbImage::new(w, h);
    for y in 0..h {
        let row = &data[y * stride..y * stride + w * 2];
        for (x, c) in row.chunks_exact(2).enumerate() {
            let v = u16::from_le_bytes([c[0], c[1]]) as f32 * (1.0 / 65535.0);
            img.data[(y * w + x) * 3..(y * w + x) * 3 + 3].fill(v);
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_errors_are_variants_by_errno() {
        let e = |errno| ffmpeg::Error::Other { errno };
        const EPERM: i32 = 1;
        const EACCES: i32 = 13;
        const EBUSY: i32 = 16;
        assert_eq!(DeviceError::from_errno("v4l2", "/dev/video0", &e(EBUSY)), Some(DeviceError::Busy("/dev/video0".into())));
        assert_eq!(DeviceError::from_errno("v4l2", "/dev/video0", &e(ffmpeg::util::error::EAGAIN)), Some(DeviceError::Busy("/dev/video0".into())));
        assert_eq!(DeviceError::from_errno("video4linux2", "/dev/video1", &e(EACCES)), Some(DeviceError::PermissionDenied("/dev/video1".into())));
        assert_eq!(DeviceError::from_errno("x11grab", ":0", &e(EPERM)), Some(DeviceError::PermissionDenied(":0".into())));
        // Not a device format, or not one of these causes: no device error.
        assert_eq!(DeviceError::from_errno("mp4", "a.mp4", &e(EBUSY)), None);
        assert_eq!(DeviceError::from_errno("v4l2", "/dev/video0", &ffmpeg::Error::InvalidData), None);
        let msg = deeplens_core::Error::new(deeplens_core::Kind::Device, DeviceError::Busy("/dev/video0".into())).to_string();
        assert_eq!(msg, "camera /dev/video0 is busy: another program is using it");
    }
}
