//! The fixtures of the integration tests: run the real binary and the ffmpeg/ffprobe CLIs, lavfi
//! clips, ONNX graphs built in the test (`onnx`), focus-controller drivers (`focus`).
#![allow(dead_code)]

pub mod focus;
pub mod onnx;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A test clip made by FFmpeg's lavfi at PATH: `testsrc2` of SIZE at 25 fps for SECONDS, with a
/// 440 Hz sine when `audio`, then `extra` output options (codec, pixel format …).
pub fn lavfi_clip(path: &Path, size: &str, seconds: &str, audio: bool, extra: &[&str]) -> PathBuf {
    let video = format!("testsrc2=size={size}:rate=25");
    let mut args = vec!["-f", "lavfi", "-i", video.as_str()];
    if audio {
        args.extend(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-shortest"]);
    }
    args.extend(["-t", seconds]);
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
    path.to_path_buf()
}

/// A path as the `&str` an argument list takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_deeplens"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run deeplens")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn ffmpeg(args: &[&str]) {
    let o = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).output().expect("ffmpeg CLI");
    assert!(o.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// ffprobe one value per stream: `entries` such as "codec_type,nb_read_frames,width".
pub fn probe(path: &Path, entries: &str) -> Vec<std::collections::HashMap<String, String>> {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries", &format!("stream={entries}"), "-of", "compact=p=0:nk=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(o.status.success(), "ffprobe {}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('|').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .collect()
}

pub fn video_stream(path: &Path) -> std::collections::HashMap<String, String> {
    probe(path, "codec_type,nb_read_frames,width,height,duration,pix_fmt")
        .into_iter()
        .find(|s| s.get("codec_type").map(String::as_str) == Some("video"))
        .expect("a video stream")
}

/// The audio packets' bytes and timestamps, as ffprobe lists them (for identity checks).
pub fn audio_packets(path: &Path) -> String {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a", "-show_packets", "-show_entries", "packet=pts,dts,duration,size,flags", "-show_data_hash", "MD5", "-of", "csv"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Files of a folder, by name.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}


/// Laplacian energy of a grey picture in a column range.
pub fn energy(img: &image::GrayImage, x0: u32, x1: u32) -> f64 {
    let mut e = 0.0;
    for y in 1..img.height() - 1 {
        for x in x0.max(1)..x1.min(img.width() - 1) {
            let c = img.get_pixel(x, y)[0] as f64;
            let l = 4.0 * c - [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)].iter().map(|&(a, b)| img.get_pixel(a, b)[0] as f64).sum::<f64>();
            e += l * l;
        }
    }
    e
}

/// Run, expect failure with `needle` in the error line, and no new file in `dir`; gives stderr.
pub fn fails(dir: &Path, args: &[&str], needle: &str) -> String {
    let before = listing(dir);
    let o = run(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} should fail");
    assert_ne!(o.status.code(), Some(101), "{args:?} panicked: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let line = err.lines().find(|l| l.contains("error")).unwrap_or_default();
    assert!(line.to_lowercase().contains(&needle.to_lowercase()), "{args:?}: expected '{needle}' in: {err}");
    assert_eq!(listing(dir), before, "{args:?} left files behind");
    err
}

