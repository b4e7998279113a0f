//! Bad input: one clear error line, a non-zero exit, no panic, no output file left behind.

use crate::common::*;
use std::path::Path;

fn clip(dir: &Path) -> String {
    lavfi_clip(&dir.join("clip.mp4"), "160x120", "1", true, &["-pix_fmt", "yuv420p"]).display().to_string()
}

#[test]
fn bad_inputs_to_convert() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let c = clip(dir);
    let out = dir.join("out.mp4").display().to_string();
    fails(dir, &["convert", &dir.join("missing.mp4").display().to_string(), &out], "no such file");
    std::fs::write(dir.join("notes.txt"), "this is not a video\n").unwrap();
    fails(dir, &["convert", &dir.join("notes.txt").display().to_string(), &out], "not a media file");
    std::fs::write(dir.join("empty.mp4"), b"").unwrap();
    fails(dir, &["convert", &dir.join("empty.mp4").display().to_string(), &out], "empty");
    let audio = dir.join("audio.m4a");
    ffmpeg(&["-f", "lavfi", "-i", "sine", "-t", "1", audio.to_str().unwrap()]);
    fails(dir, &["convert", audio.to_str().unwrap(), &out], "no video stream");
    fails(dir, &["convert", &c, "/nonexistent-folder/out.mp4"], "does not exist");
    fails(dir, &["convert", &c, &out, "--focus", "1.5"], "focus");
    fails(dir, &["convert", &c, &out, "--max-blur", "lots"], "blur");
    fails(dir, &["convert", &c, &out, "--focus", "0.5", "--focus-at", "0.5,0.5"], "cannot be used with");
    fails(dir, &["convert", &c, &out, "--focus-at", "2,0.5"], "point");
    fails(dir, &["convert", &c, &out, "--depth-model", &dir.join("notes.txt").display().to_string()], "not an ONNX model");
    fails(dir, &["convert", &c, &out, "--depth-model", repo("tests/data/wrong_inputs.onnx").to_str().unwrap()], "not a depth model");
    fails(dir, &["convert", &c, &dir.join("out.xyz").display().to_string()], "container");
    fails(dir, &["convert", &c, &out, "--codec", "no-such-encoder"], "unknown video encoder");
    fails(dir, &["convert", &c, "-"], "--output-format");
    // An existing output is refused without -y and left as it was.
    std::fs::write(dir.join("keep.mp4"), b"precious").unwrap();
    fails(dir, &["convert", &c, &dir.join("keep.mp4").display().to_string(), "--focus", "0.5"], "exists");
    assert_eq!(std::fs::read(dir.join("keep.mp4")).unwrap(), b"precious");
    // A still given to convert says which subcommand to use.
    let png = dir.join("still.png");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", png.to_str().unwrap()]);
    fails(dir, &["convert", png.to_str().unwrap(), &out], "deeplens image");
    // A declared picture size above the limit is refused when the file is opened, before any
    // frame is decoded: a real video 8200 pixels wide, and the 18 bytes of a PICtor header that
    // asks for 8171×28297 (found by the demux fuzz target: it used to decode into 2.8 GB).
    let wide = dir.join("wide.mkv");
    ffmpeg(&["-f", "lavfi", "-i", "color=size=8200x16:rate=5", "-frames:v", "2", "-c:v", "ffv1", wide.to_str().unwrap()]);
    fails(dir, &["convert", wide.to_str().unwrap(), &out], "its video is 8200×16; deeplens takes pictures up to 8192 pixels a side");
    let pictor = dir.join("huge.pic");
    std::fs::write(&pictor, [0x34, 0x12, 0xeb, 0x1f, 0x89, 0x6e, 0x3f, 0x06, 0x01, 0x00, 0x01, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01]).unwrap();
    fails(dir, &["convert", pictor.to_str().unwrap(), &out], "its video is 8171×28297");
}

#[test]
fn truncated_input_converts_what_is_decodable_or_fails_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let src = dir.join("full.mkv");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "2", "-pix_fmt", "yuv420p", src.to_str().unwrap()]);
    let bytes = std::fs::read(&src).unwrap();
    let cut = dir.join("cut.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::remove_file(&src).unwrap();
    let out = dir.join("out.mp4");
    let o = run(&["convert", cut.to_str().unwrap(), out.to_str().unwrap(), "--focus", "0.5"]);
    assert_ne!(o.status.code(), Some(101), "panicked: {}", stderr(&o));
    if o.status.success() {
        let v = video_stream(&out);
        let n: u32 = v["nb_read_frames"].parse().unwrap();
        assert!(n > 5 && n < 50, "{n} frames from half a file");
    } else {
        assert!(!out.exists());
    }
    assert!(listing(dir).iter().all(|f| !f.contains("deeplens")), "temporary left: {:?}", listing(dir));
}

#[test]
fn bad_inputs_to_image() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let png = dir.join("in.png");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", png.to_str().unwrap()]);
    let out = dir.join("out.png").display().to_string();
    let p = png.to_str().unwrap();
    fails(dir, &["image", &dir.join("nope.png").display().to_string(), &out], "no such file");
    std::fs::write(dir.join("fake.png"), b"not a png at all").unwrap();
    fails(dir, &["image", &dir.join("fake.png").display().to_string(), &out], "not a picture");
    let video = dir.join("v.mp4");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-t", "0.2", "-pix_fmt", "yuv420p", video.to_str().unwrap()]);
    fails(dir, &["image", video.to_str().unwrap(), &out], "deeplens convert");
    fails(dir, &["image", p, &dir.join("out.mp4").display().to_string()], "deeplens convert");
    fails(dir, &["image", p, &out, "--depth", &dir.join("nodepth.png").display().to_string()], "no such file");
    fails(dir, &["image", p, &out, "--max-blur=-4"], "blur");
    fails(dir, &["image", p, "/nonexistent-folder/o.png", "--depth", p], "does not exist");
    fails(dir, &["image", p, &out, "--ort-lib", &dir.join("no-lib.so").display().to_string()], "ONNX Runtime library not found");
    fails(dir, &["image", p, &out, "--ort-lib", p], "cannot load ONNX Runtime");
    // The runtime installed by scripts/setup.sh is the CPU build: asking for CUDA fails clearly.
    fails(dir, &["image", p, &out, "--device", "cuda"], "--device cuda");
    fails(dir, &["image", p, &out, "--device", "tensorrt"], "--device tensorrt: the loaded ONNX Runtime has no TensorRT execution provider");
    fails(dir, &["image", p, &out, "--renderer", "fancy"], "invalid value");
    // A picture above the size limit is refused from its header, as a depth map too.
    let wide = dir.join("wide.png");
    ffmpeg(&["-f", "lavfi", "-i", "color=size=8200x16", "-frames:v", "1", wide.to_str().unwrap()]);
    fails(dir, &["image", wide.to_str().unwrap(), &out], "the picture is 8200×16; deeplens takes pictures up to 8192 pixels a side");
    fails(dir, &["image", p, &out, "--depth", wide.to_str().unwrap()], "depth picture is 8200×16");
}
