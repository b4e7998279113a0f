//! Every shipped preset parses, and explicit flags override presets.

use crate::common::*;

#[test]
fn shipped_presets_parse() {
    for e in std::fs::read_dir(repo("pipelines")).unwrap().flatten() {
        let name = e.path().file_stem().unwrap().to_string_lossy().into_owned();
        deeplens_core::config::Preset::load(&name).unwrap_or_else(|err| panic!("{name}: {err:#}"));
    }
}

#[test]
fn unknown_preset_lists_the_known_ones() {
    let o = run(&["image", "in.png", "out.png", "--pipeline", "nope"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("unknown pipeline preset 'nope'") && e.contains("default"), "{e}");
}
