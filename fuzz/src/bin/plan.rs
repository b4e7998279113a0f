//! Farm plans (`render-segment PLAN K`, `join PLAN`): any bytes are refused with an error or give
//! a plan whose numbers are all in range, whose render options build, and whose paths resolve,
//! never a panic or an unbounded allocation.
use deeplens_core::plan::Plan;
use std::path::Path;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(plan) = Plan::parse(text, "fuzz") {
                let o = plan.render.options().expect("a parsed plan's render options build");
                assert!(o.policy.max_radius.is_finite());
                let frames: u64 = plan.segments.iter().map(|s| s.frames).sum();
                assert_eq!(frames, plan.video.frames);
                for s in &plan.segments {
                    let _ = Plan::resolve(Path::new("parts"), &s.file);
                    let _ = Plan::resolve(Path::new("parts"), &s.focus_record);
                }
                let _ = Plan::resolve(Path::new("parts"), &plan.input);
            }
        }
    });
}
