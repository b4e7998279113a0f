//! `deeplens preview`: live behaviour with a lavfi source and a stage made slow on purpose, the
//! ends of a run (duration, source end, stalled source, missing camera), y4m output, and the
//! window under Xvfb. No camera and no GPU needed; depth is given as a picture so the results
//! do not depend on the depth model.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A grey 16-bit depth picture: `near` (1) left of `split_x`, far (0) right of it.
fn depth_png(dir: &Path, w: u32, h: u32, split_x: u32) -> PathBuf {
    let p = dir.join("depth.png");
    image::ImageBuffer::<image::Luma<u16>, _>::from_fn(w, h, |x, _| image::Luma([if x < split_x { 65535 } else { 0 }])).save(&p).unwrap();
    p
}

/// A black and white checkerboard of 8-pixel squares.
fn checker_png(dir: &Path, w: u32, h: u32) -> PathBuf {
    let p = dir.join("checker.png");
    image::RgbImage::from_fn(w, h, |x, y| if (x / 8 + y / 8) % 2 == 0 { image::Rgb([255, 255, 255]) } else { image::Rgb([0, 0, 0]) }).save(&p).unwrap();
    p
}

fn stats(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("stats written")).expect("stats are JSON")
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// Every captured frame is either shown or counted dropped; queues stay within their bounds.
fn check_accounting(s: &Value) {
    assert_eq!(u(s, "frames_shown") + u(s, "frames_dropped"), u(s, "frames_captured"), "{s:#}");
    assert_eq!(u(s, "frames_dropped"), u(s, "frames_replaced") + u(s, "frames_discarded_at_end"));
    let q = &s["queues"];
    assert!(u(q, "in_flight_max") <= u(q, "in_flight_limit"), "{q}");
    assert!(u(q, "longest_seen") <= 1, "{q}");
    let by_res: u64 = s["working_resolutions"].as_array().unwrap().iter().map(|r| u(r, "frames")).sum();
    assert_eq!(by_res, u(s, "frames_shown"));
}

#[test]
fn a_slow_stage_drops_frames_and_lowers_the_working_resolution_until_the_load_goes() {
    let d = tempfile::tempdir().unwrap();
    let depth = depth_png(d.path(), 320, 240, 160);
    let st = d.path().join("stats.json");
    // The lens blur sleeps 240 ms per frame at full size (a quarter per halving) for 4 s.
    let o = run(&[
        "preview", "--headless", "-f", "lavfi", "testsrc2=size=320x240:rate=30", "--duration", "10",
        "--depth", depth.to_str().unwrap(), "--focus", "1", "--max-blur", "3",
        "--debug-stage-delay-ms", "240", "--debug-stage-delay-for", "4", "--stats", st.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stats(&st);
    assert_eq!(s["end"], "duration");
    check_accounting(&s);
    // The capture never waited: (nearly) every frame of the 10 s came in.
    let captured = u(&s, "frames_captured");
    assert!((240..=301).contains(&captured), "captured {captured}");
    // Frames were dropped, not queued: latency stays far below what a queue would build up
    // (4 s of 30 fps against at most 4 fps would be seconds behind).
    assert!(u(&s, "frames_dropped") > 10, "{s:#}");
    assert!(f(&s, "latency_ms_p50") > 0.0);
    assert!(f(&s, "latency_ms_max") < 2500.0, "{s:#}");
    // The working resolution went down under the load and came back up after it.
    let changes: Vec<(f64, u64)> = s["resolution_changes"].as_array().unwrap().iter().map(|c| (f(c, "t"), u(c, "width"))).collect();
    assert_eq!(changes[0].1, 320, "{changes:?}");
    let (i_min, &(t_min, w_min)) = changes.iter().enumerate().min_by_key(|(_, c)| c.1).unwrap();
    assert!(w_min < 320 && t_min < 5.0, "stepped down under load: {changes:?}");
    let back_up = changes[i_min..].iter().any(|&(t, w)| t > 4.0 && w > w_min);
    assert!(back_up, "stepped back up after the load: {changes:?}");
}

#[test]
fn without_load_every_frame_is_shown_at_full_working_size() {
    let d = tempfile::tempdir().unwrap();
    let depth = depth_png(d.path(), 160, 120, 80);
    let st = d.path().join("stats.json");
    let o = run(&[
        "preview", "--headless", "-f", "lavfi", "testsrc2=size=160x120:rate=10", "--duration", "3",
        "--depth", depth.to_str().unwrap(), "--focus", "1", "--max-blur", "2", "--stats", st.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stats(&st);
    check_accounting(&s);
    assert_eq!(u(&s, "frames_captured"), 30);
    // 100 ms between frames leaves room for a ~10 ms frame: a drop here would be a bug.
    assert!(u(&s, "frames_dropped") <= 2, "{s:#}");
    assert_eq!(s["working_resolutions"][0]["width"], 160);
}

#[test]
fn a_missing_camera_fails_at_once_with_a_clear_message() {
    let t = Instant::now();
    let o = run(&["preview", "--headless", "/dev/video99", "--focus", "0.5"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("no camera at /dev/video99"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
}

#[test]
fn a_file_plays_at_its_own_pace_and_ends_with_its_stats() {
    let d = tempfile::tempdir().unwrap();
    let clip = d.path().join("clip.mkv");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=20", "-t", "1.5", "-c:v", "ffv1", clip.to_str().unwrap()]);
    let depth = depth_png(d.path(), 160, 120, 80);
    let st = d.path().join("stats.json");
    let t = Instant::now();
    let o = run(&["preview", "--headless", clip.to_str().unwrap(), "--depth", depth.to_str().unwrap(), "--focus", "1", "--max-blur", "2", "--stats", st.to_str().unwrap()]);
    let took = t.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stats(&st);
    assert_eq!(s["end"], "source_ended");
    assert_eq!(u(&s, "frames_captured"), 30);
    check_accounting(&s);
    // 30 frames at 20 fps take 1.5 s when played at their own pace (a lower bound only).
    assert!(took >= Duration::from_millis(1300), "played too fast: {took:?}");
}

#[test]
fn a_source_that_stops_delivering_ends_the_run_with_stats() {
    let d = tempfile::tempdir().unwrap();
    let depth = depth_png(d.path(), 160, 120, 80);
    let st = d.path().join("stats.json");
    // One second of y4m, then the pipe stays open and silent.
    let mut feeder = Command::new("sh")
        .args(["-c", "ffmpeg -v error -f lavfi -i testsrc2=size=160x120:rate=30 -t 1 -f yuv4mpegpipe -; sleep 30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = feeder.stdout.take().unwrap();
    let t = Instant::now();
    let o = bin()
        .args(["preview", "--headless", "-f", "yuv4mpegpipe", "-", "--stall-timeout", "1.5", "--depth", depth.to_str().unwrap(), "--focus", "1", "--max-blur", "2", "--stats", st.to_str().unwrap()])
        .stdin(Stdio::from(pipe))
        .output()
        .unwrap();
    let took = t.elapsed();
    let _ = feeder.kill();
    let _ = feeder.wait();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let s = stats(&st);
    assert_eq!(s["end"], "source_stalled");
    assert_eq!(u(&s, "frames_captured"), 30);
    check_accounting(&s);
    assert!(stderr(&o).contains("no frame for"), "{}", stderr(&o));
}

#[test]
fn ctrl_c_ends_cleanly_and_writes_the_stats() {
    let d = tempfile::tempdir().unwrap();
    let depth = depth_png(d.path(), 160, 120, 80);
    let st = d.path().join("stats.json");
    let child = bin()
        .args(["preview", "--headless", "-f", "lavfi", "testsrc2=size=160x120:rate=30", "--depth", depth.to_str().unwrap(), "--focus", "1", "--stats", st.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let s = stats(&st);
    assert_eq!(s["end"], "interrupted");
    assert!(u(&s, "frames_shown") > 0);
    check_accounting(&s);
}

#[test]
fn headless_output_to_stdout_is_y4m_with_every_shown_frame() {
    let d = tempfile::tempdir().unwrap();
    let depth = depth_png(d.path(), 160, 120, 80);
    let st = d.path().join("stats.json");
    let o = run(&[
        "preview", "--headless", "-f", "lavfi", "testsrc2=size=160x120:rate=25", "--duration", "1",
        "--depth", depth.to_str().unwrap(), "--focus", "1", "--output", "-", "--stats", st.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.starts_with(b"YUV4MPEG2 W160 H120 "), "{:?}", String::from_utf8_lossy(&o.stdout[..40.min(o.stdout.len())]));
    let frames = o.stdout.windows(6).filter(|w| w == b"FRAME\n").count() as u64;
    let s = stats(&st);
    assert_eq!(frames, u(&s, "frames_shown"));
    // 160×120 4:2:0 is 28,800 bytes per frame.
    let header = o.stdout.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(o.stdout.len() - header, frames as usize * (6 + 28_800));
}

// ---- The window, under Xvfb ----

fn have(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Mean and standard deviation of the grey level in a rectangle of an RGB screenshot.
fn region_stats(img: &image::RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> (f64, f64) {
    let mut v = Vec::new();
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y);
            v.push((p[0] as f64 + p[1] as f64 + p[2] as f64) / (3.0 * 255.0));
        }
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (m, (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / v.len() as f64).sqrt())
}

#[test]
fn the_window_shows_the_processed_picture_and_answers_clicks_and_keys() {
    if !have("xvfb-run") {
        eprintln!("SKIPPED: xvfb-run is not installed (scripts/setup.sh installs it)");
        return;
    }
    for tool in ["xwininfo", "xdotool"] {
        assert!(have(tool), "{tool} is missing (scripts/setup.sh installs it)");
    }
    let d = tempfile::tempdir().unwrap();
    let checker = checker_png(d.path(), 320, 240);
    // Left half near (1), right half far (0); focus on the near half: the right half blurs.
    let depth = depth_png(d.path(), 320, 240, 160);
    let st = d.path().join("stats.json");
    let script = format!(
        r#"set -e
"{bin}" preview "{checker}" -f image2 --input-option loop=1 --input-option framerate=30 --duration 9 \
  --depth "{depth}" --focus 1 --max-blur 10 --highlight-boost 0 --no-adapt --stats "{st}" 2>"{dir}/log.txt" &
pid=$!
geo=""
for i in $(seq 1 50); do
  geo=$(xwininfo -root -tree | grep 'deeplens preview' | grep -o '[0-9]*x[0-9]*+[0-9]*+[0-9]*' | head -n1) || true
  [ -n "$geo" ] && break
  sleep 0.1
done
echo "$geo" > "{dir}/geo.txt"
x=$(echo "$geo" | cut -d+ -f2); y=$(echo "$geo" | cut -d+ -f3)
shot() {{ ffmpeg -v error -y -f x11grab -draw_mouse 0 -video_size 320x240 -i "$DISPLAY+$x,$y" -frames:v 1 "{dir}/$1.png"; }}
sleep 2; shot focus_near
xdotool mousemove $((x + 240)) $((y + 180)) mousedown 1 sleep 0.2 mouseup 1
sleep 2; shot focus_far
wid=$(xdotool search --name 'deeplens preview' | head -n1)
xdotool windowfocus --sync "$wid" keydown d sleep 0.2 keyup d
sleep 1; shot depth
wait $pid
"#,
        bin = env!("CARGO_BIN_EXE_deeplens"),
        checker = checker.display(),
        depth = depth.display(),
        st = st.display(),
        dir = d.path().display()
    );
    let o = Command::new("xvfb-run").args(["-a", "-s", "-screen 0 640x480x24", "sh", "-c", &script]).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    let log = std::fs::read_to_string(d.path().join("log.txt")).unwrap_or_default();
    assert!(o.status.success(), "{}\n{}\n{log}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    let geo = std::fs::read_to_string(d.path().join("geo.txt")).unwrap();
    assert!(geo.starts_with("320x240+"), "window geometry {geo}");
    let load = |n: &str| image::open(d.path().join(format!("{n}.png"))).unwrap().to_rgb8();
    // Below the overlay (the top 60 rows), away from the depth edge.
    let halves = |img: &image::RgbImage| (region_stats(img, 8, 80, 140, 236), region_stats(img, 180, 80, 312, 236));
    let ((ml, sl), (mr, sr)) = halves(&load("focus_near"));
    // The picture itself (neither black nor white: the checkerboard, blurred in linear light on
    // the right, which brightens its gamma-encoded mean), sharp left, blurred right.
    assert!((ml - 0.5).abs() < 0.1 && (0.4..0.85).contains(&mr), "means {ml:.2} {mr:.2}");
    assert!(sl > 0.4, "the in-focus half is sharp: std {sl:.3}");
    assert!(sr < 0.5 * sl, "the far half is blurred: std {sr:.3} vs {sl:.3}");
    // A click on the right half focuses there: now the left half blurs.
    let ((_, sl2), (_, sr2)) = halves(&load("focus_far"));
    assert!(sr2 > 0.4 && sl2 < 0.5 * sr2, "after the click: left std {sl2:.3}, right std {sr2:.3}");
    // `d` shows the depth: white left, black right.
    let ((dl, _), (dr, _)) = halves(&load("depth"));
    assert!(dl > 0.9 && dr < 0.1, "depth view: {dl:.2} {dr:.2}");
    let s = stats(&st);
    assert_eq!(s["end"], "duration");
    check_accounting(&s);
}
