//! The demuxer front on malformed media (`convert IN …`): any bytes as an input file are refused
//! with an error or opened and decoded to RGB frames, never a panic, an arithmetic overflow (the
//! AFL build checks overflows) or a hang. Only the first two frames are decoded, so one input stays
//! fast; FFmpeg itself is not instrumented, so AFL's coverage is deeplens's own handling.
use deeplens_video::{Cut, Demuxer, InputSpec};

fn main() {
    deeplens_video::init().expect("FFmpeg initialises");
    let path = std::env::temp_dir().join(format!("deeplens-fuzz-demux-{}", std::process::id()));
    let url = path.display().to_string();
    afl::fuzz!(|data: &[u8]| {
        if std::fs::write(&path, data).is_err() {
            return;
        }
        if let Ok(d) = Demuxer::open(&InputSpec { url: url.clone(), ..Default::default() }) {
            let (w, h) = d.info.display_size();
            assert!(w > 0 && h > 0);
            let mut frames = 0;
            let _ = d.run(Cut::default(), &|| false, |f| {
                assert!(f.rgb.width > 0 && f.rgb.height > 0 && f.t.is_finite());
                frames += 1;
                frames < 2
            }, |_| true);
        }
    });
    let _ = std::fs::remove_file(&path);
}
