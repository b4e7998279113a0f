//! Video input and output through FFmpeg (ffmpeg-next): demux and decode to RGB frames, encode
//! RGB frames and mux them with the other streams copied untouched.
//!
//! Scaling contexts are not `Send`, so each side makes its own inside the thread that uses it.
//! Colour conversion uses the stream's own matrix and range both ways, so a round trip leaves
//! colours where they were; colour tags, rotation and timestamps are carried to the output.

mod audio;
mod input;
mod output;

pub use input::{Cut, DecodedFrame, Demuxer, InputSpec, OtherStream, StreamPacket, VideoInfo};
pub use output::{Muxer, OutputSpec};

use anyhow::Result;
use std::sync::Once;

pub use ffmpeg_next as ffmpeg;

/// Initialise FFmpeg once and keep its own logging to errors only (our log says what matters).
pub fn init() -> Result<()> {
    static INIT: Once = Once::new();
    let mut res = Ok(());
    INIT.call_once(|| {
        res = ffmpeg::init().map_err(|e| anyhow::anyhow!("cannot initialise FFmpeg: {e}"));
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
        unsafe { ffmpeg::ffi::avdevice_register_all() };
    });
    res
}

/// Parse a time given as seconds (`12.5`) or `[HH:]MM:SS[.mmm]`.
pub fn parse_time(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let bad = || format!("invalid time '{s}': expected seconds (12.5) or HH:MM:SS.mmm");
    let v = if t.contains(':') {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() > 3 {
            return Err(bad());
        }
        let mut v = 0.0;
        for (i, p) in parts.iter().enumerate() {
            let x: f64 = p.parse().map_err(|_| bad())?;
            if x < 0.0 || (i > 0 && x >= 60.0) {
                return Err(bad());
            }
            v = v * 60.0 + x;
        }
        v
    } else {
        t.parse::<f64>().map_err(|_| bad())?
    };
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok(v)
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
        ffmpeg::Error::Other { errno } if errno == libc_enoent() => "no such file".into(),
        other => other.to_string(),
    }
}

fn libc_enoent() -> i32 {
    2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("12.5").unwrap(), 12.5);
        assert_eq!(parse_time("00:01:02.500").unwrap(), 62.5);
        assert_eq!(parse_time("1:00").unwrap(), 60.0);
        assert!(parse_time("-1").is_err());
        assert!(parse_time("1:75").is_err());
        assert!(parse_time("abc").is_err());
    }
}
