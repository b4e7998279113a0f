//! Files deeplens must never destroy or leave behind (issue 19's file cases).

mod common;

use common::{ffmpeg, run, stderr};
use std::path::Path;

fn clip(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("in.mp4");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-t", "0.4", "-pix_fmt", "yuv420p", p.to_str().unwrap()]);
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn refused(args: &[&str], needle: &str) {
    let o = run(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    let e = stderr(&o);
    assert!(e.contains(needle), "{args:?}: {e}");
    assert_eq!(e.lines().count(), 1, "{e}");
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
    let left: Vec<String> = common::listing(dir.path()).into_iter().filter(|n| n.contains(".tmp")).collect();
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
