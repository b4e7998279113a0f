//! FFmpeg's GPU codecs (issue 20): `--hwaccel NAME` decodes on a hardware device and
//! `--codec h264_nvenc|hevc_nvenc` encodes on one. Where the machine has no such device (every
//! test machine: tests never need a GPU), each is one clear error line, a non-zero exit and no
//! output; where it has one, the conversion must simply work.

use crate::common::*;

fn clip(dir: &std::path::Path) -> String {
    lavfi_clip(&dir.join("clip.mp4"), "160x120", "1", false, &["-pix_fmt", "yuv420p"]).display().to_string()
}

#[test]
fn an_unknown_hwaccel_is_refused_with_the_known_ones_listed() {
    let d = tempfile::tempdir().unwrap();
    let c = clip(d.path());
    let err = fails(d.path(), &["convert", &c, d.path().join("out.mp4").to_str().unwrap(), "--hwaccel", "warp-drive"], "--hwaccel warp-drive: not a hardware decoding method");
    assert!(err.contains("cuda"), "the methods this FFmpeg has are listed: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Runs a conversion that may only work with a GPU: either it works (an output with every frame) or
/// it fails with `needle` in one error line and leaves nothing behind.
fn works_or_says_why(args: &[&str], needle: &str) {
    let d = tempfile::tempdir().unwrap();
    let c = clip(d.path());
    let out = d.path().join("out.mp4");
    let mut all = vec!["convert", c.as_str(), out.to_str().unwrap(), "--max-blur", "4"];
    all.extend_from_slice(args);
    let before = listing(d.path());
    let o = run(&all);
    if o.status.success() {
        assert_eq!(video_stream(&out)["nb_read_frames"], "25");
    } else {
        let err = stderr(&o);
        assert_ne!(o.status.code(), Some(101), "panicked: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(needle), "expected '{needle}' in: {err}");
        assert_eq!(listing(d.path()), before, "left files behind");
    }
}

#[test]
fn hwaccel_cuda_decodes_on_the_gpu_or_says_there_is_none() {
    works_or_says_why(&["--hwaccel", "cuda"], "--hwaccel cuda: no usable cuda device on this machine");
}

#[test]
fn nvenc_encodes_on_the_gpu_or_says_what_it_needs() {
    works_or_says_why(&["--codec", "h264_nvenc"], "cannot open encoder 'h264_nvenc': it needs an NVIDIA GPU");
    works_or_says_why(&["--codec", "hevc_nvenc"], "cannot open encoder 'hevc_nvenc': it needs an NVIDIA GPU");
}
