//! Files deeplens must never destroy or leave behind (issue 19's file cases).


use crate::common::{ffmpeg, run, s, stderr};
use std::path::Path;

fn clip(dir: &Path) -> std::path::PathBuf {
    crate::common::lavfi_clip(&dir.join("in.mp4"), "96x64", "0.4", false, &["-pix_fmt", "yuv420p"])
}

/// Runs deeplens, asserts a refusal in one line naming `needle`, and gives back that line.
fn refused(args: &[&str], needle: &str) -> String {
    let o = run(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    let e = stderr(&o);
    assert!(e.contains(needle), "{args:?}: {e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    e
}

#[test]
fn inputs_devices_and_existing_files_are_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let before = std::fs::read(&input).unwrap();
    refused(&["convert", "-y", s(&input), s(&input), "--focus", "0.5"], "is an input");
    refused(&["convert", s(&input), s(&dir.path().join("o.mp4")), "--focus", "0.5", "--write-focus-track", s(&input)], "is an input");
    refused(&["convert", s(&input), "/dev/null", "-y", "--focus", "0.5"], "not a regular file");
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device_like());
    assert_eq!(std::fs::read(&input).unwrap(), before);

    let png = dir.path().join("p.png");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", s(&png)]);
    let png_before = std::fs::read(&png).unwrap();
    refused(&["image", s(&png), s(&dir.path().join("o.png")), "--focus", "0.5", "--save-depth", s(&png)], "is an input");
    assert_eq!(std::fs::read(&png).unwrap(), png_before);

    let stats = dir.path().join("stats.json");
    std::fs::write(&stats, b"keep").unwrap();
    refused(&["preview", "--headless", "-f", "lavfi", "testsrc2", "--duration", "0.2", "--stats", s(&stats)], "exists");
    assert_eq!(std::fs::read(&stats).unwrap(), b"keep");
    assert!(!dir.path().join("o.mp4").exists() && !dir.path().join("o.png").exists());
}

#[test]
fn no_output_without_frames_and_no_temp_files_left() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let out = dir.path().join("o.mp4");
    refused(&["convert", s(&input), s(&out), "--start", "5", "--focus", "0.5"], "no video frames");
    assert!(!out.exists());
    // With -y, an old OUTPUT is not replaced by an empty one.
    std::fs::write(&out, b"old result").unwrap();
    refused(&["convert", s(&input), s(&out), "-y", "--start", "5", "--focus", "0.5"], "no video frames");
    assert_eq!(std::fs::read(&out).unwrap(), b"old result");
    // A temporary file of a run that died here is removed by the next run into the folder.
    let host: String = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().chars().filter(|c| c.is_ascii_alphanumeric()).take(32).collect();
    let stale = dir.path().join(format!(".x.deeplens-{host}-0-0123456789abcdef.tmp.mp4"));
    std::fs::write(&stale, b"partial").unwrap();
    let o = run(&["convert", s(&input), s(&dir.path().join("ok.mp4")), "--focus", "0.5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stale.exists());
    let left: Vec<String> = crate::common::listing(dir.path()).into_iter().filter(|n| n.contains(".tmp")).collect();
    assert!(left.is_empty(), "{left:?}");
}

trait CharDevice {
    fn is_char_device_like(&self) -> bool;
}

impl CharDevice for std::fs::FileType {
    fn is_char_device_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_char_device()
    }
}

#[test]
fn nothing_is_taken_from_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    // A planted runtime library, depth model and preset in the folder deeplens runs in.
    std::fs::create_dir_all(dir.path().join(".cache/onnxruntime")).unwrap();
    std::fs::write(dir.path().join(".cache/onnxruntime/libonnxruntime.so"), b"not a library").unwrap();
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    std::fs::write(dir.path().join("models/depth.onnx"), b"not a model").unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    std::fs::write(dir.path().join("pipelines/fast.toml"), b"max_blur = \"0\"\n").unwrap();
    let o = crate::common::bin()
        .current_dir(dir.path())
        .env_remove("ORT_DYLIB_PATH")
        .args(["convert", "in.mp4", "o.mp4", "--focus", "0.5", "--pipeline", "fast", "--report", "r.json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    let model = r["models"][0]["path"].as_str().unwrap();
    assert_eq!(Path::new(model), crate::common::repo("models/depth.onnx"));
    assert_ne!(r["options"]["max_blur"]["value"], "0px", "the planted preset was read");
    let _ = input;
}

#[test]
fn bad_numbers_endless_files_and_terminal_escapes_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let out = dir.path().join("o.mp4");
    for v in ["NaN", "inf", "-1e30"] {
        refused(&["convert", s(&input), s(&out), "--aperture-blades", "6", &format!("--aperture-rotation={v}")], "--aperture-rotation");
    }
    refused(&["convert", s(&input), s(&out), "--pipeline", "/dev/zero"], "not a regular file");
    refused(&["convert", s(&input), s(&out), "--focus-track", "/dev/zero"], "not a regular file");
    let track = dir.path().join("t.json");
    std::fs::write(&track, "{\"keyframes\":[{\"t\":0,\"focus\":0.5,\"\\u001b[31mx\":1}]}").unwrap();
    let o = run(&["convert", s(&input), s(&out), "--focus-track", s(&track)]);
    assert!(!o.status.success());
    assert!(!stderr(&o).contains('\u{1b}'), "an escape sequence reached the terminal");
    // Track plots: sizes bounded, huge keys cost a bounded drawing.
    let svg = dir.path().join("p.svg");
    refused(&["track", "plot", s(&track), s(&svg), "--fps", "1e-310"], "--fps");
    std::fs::write(&track, r#"{"keyframes":[{"t":0,"focus":0.5},{"t":1000000000,"focus":0.2}]}"#).unwrap();
    let t = std::time::Instant::now();
    let o = run(&["track", "plot", s(&track), s(&svg)]);
    assert!(o.status.success(), "{}", stderr(&o));
    eprintln!("plot of a 1e9 s track: {:.2} s", t.elapsed().as_secs_f64());
    assert!(std::fs::metadata(&svg).unwrap().len() < 50 << 20);
    assert!(out.exists() == false);
}

/// Found by `scripts/hostile.py`: flag errors were clap's four-line report, a value starting
/// with a minus sign was taken for a flag, encoder settings reached FFmpeg unchecked (x264 printed
/// its own line, a crf of 1e30 or an unknown audio encoder passed), a rotation was not checked
/// for a round aperture, and user text reached the terminal raw.
#[test]
fn every_flag_error_is_one_line_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let out = dir.path().join("o.mp4");
    let (i, o) = (s(&input), s(&out));
    for (flag, v, needle) in [
        ("--crf", "abc", "--crf"),
        ("--crf", "-1", "--crf"),
        ("--crf", "1e30", "--crf"),
        ("--crf", "nan", "--crf"),
        ("--focus", "-inf", "--focus"),
        ("--max-blur", "-5", "--max-blur"),
        ("--preset", "fastest", "--preset"),
        ("--audio-codec", "nan", "audio encoder"),
        ("--pix-fmt", "yuv999", "pixel format"),
        ("--output-format", "nonsense", "--output-format"),
        ("--aperture-rotation", "nan", "--aperture-rotation"),
        ("--codec", "\u{1b}[31mred", "encoder"),
    ] {
        let e = refused(&["convert", i, o, flag, v], needle);
        assert!(!e.contains('\u{1b}'), "{flag}: raw escape in {e:?}");
    }
    // An unknown flag, a missing value: one line too, and plan checks the encoder before it analyses.
    refused(&["convert", i, o, "--no-such-flag"], "--no-such-flag");
    refused(&["convert", i, o, "--crf"], "--crf");
    refused(&["plan", i, o, "--segments", "2", "--crf", "99"], "--crf");
    refused(&["preview", "--headless", i, "--stall-timeout", "0"], "--stall-timeout");
    assert!(!out.exists());
    assert!(!dir.path().join("o.mp4.parts").exists(), "plan made its folder before refusing");
}

#[test]
fn tiny_pictures_huge_blur_y4m_and_a_closed_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let px = dir.path().join("px.png");
    image::RgbImage::from_pixel(1, 1, image::Rgb([200, 30, 30])).save(&px).unwrap();
    let o = run(&["image", s(&px), s(&dir.path().join("o.png")), "--focus", "0.5", "--max-blur", "1000", "--depth", s(&px)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let input = clip(dir.path());
    // y4m by the name the error messages use, to a file and to stdout.
    let o = run(&["convert", s(&input), s(&dir.path().join("o.y4m")), "--focus", "0.5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["convert", s(&input), "-", "--output-format", "y4m", "--focus", "0.5"]);
    assert!(o.status.success() && o.stdout.starts_with(b"YUV4MPEG2"), "{}", stderr(&o));
    // `bench | head -1`: no panic when stdout closes.
    let mut child = crate::common::bin()
        .args(["bench", s(&input), "--focus", "0.5"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn unreadable_pipes_end_and_a_given_depth_follows_start() {
    let dir = tempfile::tempdir().unwrap();
    // An mp4 with its index at the end, on stdin: one error line, quickly, no output.
    let late = dir.path().join("late.mp4");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-t", "8", "-pix_fmt", "yuv420p", s(&late)]);
    let out = dir.path().join("o.mp4");
    let t = std::time::Instant::now();
    let o = crate::common::bin().args(["convert", "-", s(&out), "--focus", "0.5"]).stdin(std::fs::File::open(&late).unwrap()).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot be read from a pipe") || stderr(&o).contains("errors in a row"), "{}", stderr(&o));
    assert!(t.elapsed().as_secs() < 60);
    assert!(!out.exists());

    // --depth is cut by --start like the video: frame k of the depth video has grey 8k.
    let input = clip(dir.path());
    let dv = dir.path().join("dv.mkv");
    ffmpeg(&["-f", "lavfi", "-i", "nullsrc=s=96x64:r=25,geq=lum='N*8':cb=128:cr=128", "-t", "0.4", "-pix_fmt", "gray", "-c:v", "ffv1", s(&dv)]);
    let pattern = dir.path().join("d_%03d.png");
    let o = run(&["convert", s(&input), s(&out), "--start", "0.2", "--depth", s(&dv), "--focus", "0.5", "--write-depth", s(&pattern)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = image::open(dir.path().join("d_000.png")).unwrap().to_luma16();
    let v = first.get_pixel(48, 32)[0] as f64 / 65535.0;
    // Frame 5 (0.2 s at 25 fps): grey 40/255 ≈ 0.16 (not frame 0's 0).
    assert!(v > 0.1 && v < 0.25, "depth of the first converted frame: {v}");
}

#[test]
fn unknown_ffmpeg_options_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let out = dir.path().join("o.mp4");
    refused(&["convert", s(&input), s(&out), "--focus", "0.5", "--encoder-option", "bogus=1"], "unknown encoder option 'bogus'");
    refused(&["convert", s(&input), s(&out), "--focus", "0.5", "--input-option", "bogus=1"], "unknown input option bogus");
    assert!(!out.exists());
    let o = run(&["convert", s(&input), s(&out), "--focus", "0.5", "--encoder-option", "tune=film"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn pcm_and_flac_audio_go_into_mp4_re_encoded() {
    let dir = tempfile::tempdir().unwrap();
    for codec in ["pcm_s16le", "flac"] {
        let input = dir.path().join(format!("{codec}.mkv"));
        ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-f", "lavfi", "-i", "sine", "-t", "0.4", "-shortest", "-c:v", "ffv1", "-c:a", codec, s(&input)]);
        let out = dir.path().join(format!("{codec}.mp4"));
        let o = run(&["convert", s(&input), s(&out), "--focus", "0.5"]);
        assert!(o.status.success(), "{codec}: {}", stderr(&o));
        let audio = crate::common::probe(&out, "codec_type,codec_name").into_iter().find(|st| st["codec_type"] == "audio").expect("audio kept");
        assert_eq!(audio["codec_name"], "aac");
    }
}

#[test]
fn surround_audio_keeps_its_channels_or_says_it_downmixes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("surround.mkv");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-f", "lavfi", "-i", "sine", "-t", "0.4", "-shortest",
             "-af", "pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0", "-c:v", "ffv1", "-c:a", "pcm_s16le", s(&input)]);
    let channels = |p: &Path| {
        let a = crate::common::probe(p, "codec_type,channels").into_iter().find(|st| st["codec_type"] == "audio").expect("audio kept");
        a["channels"].clone()
    };
    // AAC (mp4) and Opus (webm) carry 5.1: all six channels stay, with no downmix warning.
    for name in ["o.mp4", "o.webm"] {
        let out = dir.path().join(name);
        let o = run(&["convert", s(&input), s(&out), "--focus", "0.5"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(channels(&out), "6", "{name}");
        assert!(!stderr(&o).contains("downmixing"), "{name}: {}", stderr(&o));
    }
    // Side surround (FLAC here) goes into Opus in the back order Opus defines, as FFmpeg's CLI does.
    let side = dir.path().join("side.mkv");
    ffmpeg(&["-i", s(&input), "-af", "aformat=channel_layouts=5.1(side)", "-c:v", "copy", "-c:a", "flac", s(&side)]);
    let out = dir.path().join("side.webm");
    let o = run(&["convert", s(&side), s(&out), "--focus", "0.5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(channels(&out), "6");
    // An encoder limited to stereo downmixes, and says so.
    let out = dir.path().join("mp3.mp4");
    let o = run(&["convert", s(&input), s(&out), "--focus", "0.5", "--audio-codec", "libmp3lame"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(channels(&out), "2");
    assert!(stderr(&o).contains("the libmp3lame encoder takes at most 2 audio channels: downmixing 6 to 2"), "{}", stderr(&o));
}
