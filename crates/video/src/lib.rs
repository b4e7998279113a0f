//! Video input and output through FFmpeg (ffmpeg-next): demux and decode to RGB frames, encode
//! RGB frames and mux them with the other streams copied untouched.
//!
//! Scaling contexts are not `Send`, so each side makes its own inside the thread that uses it.
//! Colour conversion uses the stream's own matrix and range both ways, so a round trip leaves
//! colours where they were; colour tags, rotation and timestamps are carried to the output.
//!
//! It owns every FFmpeg call of deeplens; it never touches depth, focus, lens blur or the command
//! line. Errors are the core's [`deeplens_core::Error`]: `Input` for what cannot be opened or
//! decoded, `Output` for what cannot be encoded or written, `Device` for FFmpeg itself and
//! libavdevice.

mod audio;
mod input;
mod output;

pub use input::{DEVICE_FORMATS, check_hwaccel, damaged_packets, interrupt, Cut, DecodedFrame, Demuxer, DeviceError, InputSpec, OtherStream, PacketMark, StreamPacket, VideoInfo};
pub use output::{GreyWriter, Muxer, OutputSpec, Remuxer};

use deeplens_core::Result;
use std::sync::Once;

pub use ffmpeg_next as ffmpeg;

/// Initialise FFmpeg once and keep its own logging to errors only (our log says what matters).
pub fn init() -> Result<()> {
    static INIT: Once = Once::new();
    let mut res = Ok(());
    INIT.call_once(|| {
        res = ffmpeg::init().map_err(|e| deeplens_core::err!(Device, "cannot initialise FFmpeg: {e}"));
        ffmpeg::util::log::set_level(if std::env::var_os("DEEPLENS_FFDEBUG").is_some() { ffmpeg::util::log::Level::Debug } else { ffmpeg::util::log::Level::Fatal });
    });
    res
}

/// Make FFmpeg's input devices (lavfi, v4l2, x11grab, alsa, …) available by loading libavdevice
/// at run time. Linking it would pull SDL, X11, PulseAudio and GL into every start of the
/// program (about 100 ms here, more than a whole 320×240 still takes), so it is loaded only when
/// an input names a format or a device. Loaded once; later calls return the first result.
pub fn register_devices() -> Result<()> {
    static RESULT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    RESULT
        .get_or_init(|| {
            // libavdevice's major version follows libavformat's (59 for FFmpeg 5.x, 60 for 6.x …).
            let major = unsafe { ffmpeg::ffi::avformat_version() } >> 16;
            let names = [format!("libavdevice.so.{major}"), "libavdevice.so".to_string()];
            let mut last = String::new();
            for name in &names {
                match unsafe { libloading::Library::new(name) } {
                    Ok(lib) => {
                        let f: libloading::Symbol<unsafe extern "C" fn()> = match unsafe { lib.get(b"avdevice_register_all\0") } {
                            Ok(f) => f,
                            Err(e) => {
                                last = format!("{name}: {e}");
                                continue;
                            }
                        };
                        unsafe { f() };
                        // Keep it loaded for the life of the process.
                        std::mem::forget(lib);
                        return Ok(());
                    }
                    Err(e) => last = format!("{name}: {e}"),
                }
            }
            Err(format!("input devices need libavdevice, which could not be loaded ({last}); install libavdevice59 (Debian) or your FFmpeg's libavdevice"))
        })
        .clone()
        .map_err(|e| deeplens_core::Error::msg(deeplens_core::Kind::Device, e))
}

/// `KEY=VALUE` pairs as given on the command line.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("invalid option '{s}': expected KEY=VALUE")),
    }
}

/// A human error for an FFmpeg error code when opening a file.
pub(crate) fn describe(e: ffmpeg::Error) -> String {
    match e {
        ffmpeg::Error::InvalidData => "not a media file FFmpeg can read (invalid data)".into(),
        ffmpeg::Error::Other { errno: ffmpeg::util::error::ENOENT } => "no such file".into(),
        other => other.to_string(),
    }
}

