//! Presets (`--pipeline FILE.toml`): parsed, then resolved into checked render options as the
//! command line does; every outcome is a value or an error, never a panic.
use deeplens_core::config::{Preset, RenderFlags, RenderOptions};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(preset) = toml::from_str::<Preset>(text) {
                let _ = RenderOptions::resolve(&RenderFlags::default(), &preset);
            }
        }
    });
}
