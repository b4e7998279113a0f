//! Ctrl-C finishes the container so what was written plays, keeps it, and exits with 130.

use crate::common::*;
use std::time::{Duration, Instant};

#[test]
fn ctrl_c_keeps_a_playable_file() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("live.mp4");
    // An endless lavfi source: only an interrupt ends this run.
    let child = bin()
        .args(["convert", "-f", "lavfi", "testsrc2=size=160x120:rate=25", out.to_str().unwrap(), "--focus", "0.5"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until frames are flowing (the temporary file grows), then interrupt.
    let t0 = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let grown = listing(d.path()).iter().any(|f| f.contains("deeplens") && std::fs::metadata(d.path().join(f)).map(|m| m.len() > 2000).unwrap_or(false));
        if grown || t0.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", String::from_utf8_lossy(&o.stderr));
    let v = video_stream(&out);
    let n: u32 = v["nb_read_frames"].parse().unwrap();
    assert!(n > 0, "no frames kept");
    assert_eq!(listing(d.path()), vec!["live.mp4"]);
}

#[test]
fn ctrl_c_stops_a_still_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("big.png");
    // A large noisy picture: decoding and rendering it take seconds in a test build.
    let (w, h) = (3000u32, 2000u32);
    let mut seed = 7u32;
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        image::Rgb([(seed >> 24) as u8, (seed >> 16) as u8, (seed >> 8) as u8])
    });
    img.save(&input).unwrap();
    let out = d.path().join("out.png");
    // The still may finish before the signal on a fast machine: interrupt sooner each try, until
    // one lands while it works.
    for delay_ms in [600, 300, 150, 80, 40] {
        let child = bin()
            .args(["image", input.to_str().unwrap(), out.to_str().unwrap(), "--focus", "0.5", "--max-blur", "5%", "-y"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        if status.success() && o.status.code() == Some(130) {
            assert!(err.contains("interrupted; nothing was written"), "{err}");
            assert_eq!(listing(d.path()), vec!["big.png"]);
            return;
        }
        assert!(o.status.success() || o.status.code().is_none(), "{err}");
        let _ = std::fs::remove_file(&out);
    }
    panic!("no interrupt landed while the still was being made");
}

/// A network peer that accepts and then says nothing: `--io-timeout` ends the run with one line,
/// and with the default (30 s) timeout Ctrl-C still ends it at once (FFmpeg's interrupt callback).
#[test]
fn a_silent_network_peer_times_out_or_is_interrupted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept every connection and hold it open without a byte.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.mp4");
    let url = format!("http://127.0.0.1:{port}/clip.mp4");
    let t0 = Instant::now();
    let o = bin().args(["convert", &url, out.to_str().unwrap(), "--io-timeout", "1"]).output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(t0.elapsed() < Duration::from_secs(20), "took {:?}", t0.elapsed());

    let child = bin().args(["convert", &url, out.to_str().unwrap()]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t1 = Instant::now();
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success());
    assert!(t1.elapsed() < Duration::from_secs(10), "Ctrl-C took {:?}", t1.elapsed());
    assert!(listing(d.path()).is_empty(), "{:?}", listing(d.path()));
}
