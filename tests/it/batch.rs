//! `convert INPUT_DIR OUTPUT_DIR`: a folder of clips, one broken.


use crate::common::{run, stderr};
use std::path::Path;

fn tiny(p: &Path) {
    crate::common::lavfi_clip(p, "96x64", "0.4", true, &["-pix_fmt", "yuv420p"]);
}

#[test]
fn a_folder_converts_the_good_clips_reports_the_bad_one_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in");
    std::fs::create_dir_all(inp.join("sub")).unwrap();
    tiny(&inp.join("a.mp4"));
    tiny(&inp.join("b.mkv"));
    tiny(&inp.join("sub/c.mp4"));
    std::fs::write(inp.join("broken.mp4"), b"this is not a video at all, just some bytes").unwrap();
    std::fs::write(inp.join("notes.txt"), b"not a video either, and not taken for one").unwrap();
    let out = dir.path().join("out");
    let o = run(&["convert", inp.to_str().unwrap(), out.to_str().unwrap(), "--focus", "0.5"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("2 converted, 0 skipped, 1 failed"), "{e}");
    assert!(e.contains("broken.mp4"), "{e}");
    assert_eq!(crate::common::listing(&out), vec!["a-dof.mp4", "b-dof.mkv"]);
    assert_eq!(crate::common::video_stream(&out.join("a-dof.mp4"))["nb_read_frames"], "10");

    // Again with -r and a pattern: existing outputs are skipped, subfolders kept.
    let o = run(&["convert", inp.to_str().unwrap(), out.to_str().unwrap(), "-r", "--focus", "0.5"]);
    let e = stderr(&o);
    assert!(e.contains("1 converted, 2 skipped, 1 failed"), "{e}");
    assert!(out.join("sub/c-dof.mp4").is_file());
    let o = run(&["convert", inp.to_str().unwrap(), out.to_str().unwrap(), "--output-pattern", "{stem}.mkv", "--focus", "0.5"]);
    assert!(stderr(&o).contains("2 converted"), "{}", stderr(&o));
    assert!(out.join("a.mkv").is_file() && out.join("b.mkv").is_file());

    // Bad requests: one line each.
    for (args, needle) in [
        (vec!["--output-pattern", "x.mp4"], "{stem}"),
        (vec!["--write-depth", "d.mkv"], "one by one"),
    ] {
        let mut a = vec!["convert", inp.to_str().unwrap(), out.to_str().unwrap()];
        a.extend(args);
        let o = run(&a);
        assert!(!o.status.success());
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
    }
    let o = run(&["convert", inp.join("a.mp4").to_str().unwrap(), dir.path().join("x.mp4").to_str().unwrap(), "-r"]);
    assert!(!o.status.success() && stderr(&o).contains("not a folder"), "{}", stderr(&o));
}
