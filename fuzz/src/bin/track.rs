//! Focus tracks (`--focus-track FILE`): any bytes are refused with an error or parsed into a
//! track the focus controller can play, never a panic or an unbounded allocation.
use deeplens_core::focus::{BlurAmount, FocusController, FocusSpec, Rotation, Track};
use deeplens_core::Plane;

fn main() {
    let depth = Plane::filled(8, 8, 0.5);
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(track) = Track::from_json(text) {
                // Play it across and beyond its span, as a conversion does.
                let mut c = FocusController::new(FocusSpec::Track(track), BlurAmount::Pixels(8.0), Rotation(0));
                for k in 0..16u64 {
                    let _ = c.next(k, k as f64 * 0.37, &depth);
                }
            }
        }
    });
}
