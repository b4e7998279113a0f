//! Invalid tracks are rejected before any frame, with the key and the problem named.

use deeplens_core::focus::{Track, TrackError};

fn error(json: &str) -> String {
    match Track::from_json(json) {
        Ok(t) => panic!("accepted an invalid track: {t:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_says(json: &str, parts: &[&str]) {
    let msg = error(json);
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} lacks {p:?}");
    }
}

#[test]
fn bad_json() {
    let e = Track::from_json(r#"{ "keyframes": [ { "t": 0, "focus": 0.5 }, ] }"#).unwrap_err();
    assert!(matches!(e, TrackError::Json(_)), "{e:?}");
    assert!(e.to_string().contains("line 1"), "{e}");
    assert_says("[1, 2]", &["expected an object"]);
    assert_says(r#"{ "keyframes": [] }"#, &["empty"]);
    assert_says(r#"{ "keys": [] }"#, &["unknown field \"keys\""]);
    assert_says(r#"{ "version": 2, "keyframes": [ { "t": 0, "focus": 0.5 } ] }"#, &["version 2"]);
}

#[test]
fn unknown_field_names_the_key() {
    assert_says(
        r#"{ "keyframes": [ { "t": 0, "focus": 0.5 }, { "t": 1, "fokus": 0.5 } ] }"#,
        &["key 1", "unknown field \"fokus\""],
    );
    assert_says(r#"{ "frames": [ { "frame": 0, "focus": 0.5, "ease": "linear" } ] }"#, &["key 0", "unknown field \"ease\""]);
}

#[test]
fn out_of_range_values() {
    assert_says(r#"{ "keyframes": [ { "t": 0, "focus": 1.5 } ] }"#, &["key 0", "focus 1.5 is out of range"]);
    assert_says(r#"{ "keyframes": [ { "t": 0, "focus": 0.5 }, { "t": -1, "focus": 0.5 } ] }"#, &["key 1", "out of range"]);
    assert_says(r#"{ "keyframes": [ { "frame": 2.5, "focus": 0.5 } ] }"#, &["key 0", "frame 2.5 is out of range"]);
    assert_says(r#"{ "keyframes": [ { "t": 0, "focus_at": [0.5, 1.2] } ] }"#, &["key 0", "focus_at", "out of range"]);
    assert_says(r#"{ "keyframes": [ { "t": 0, "focus_at": [0.5] } ] }"#, &["key 0", "focus_at must be [x, y]"]);
    assert_says(r#"{ "keyframes": [ { "t": 0, "focus": 0.5, "blur": "30%" } ] }"#, &["key 0", "at most 25%"]);
    assert_says(r#"{ "keyframes": [ { "t": 0, "focus": 0.5, "blur": -2 } ] }"#, &["key 0", "blur"]);
    assert_says(r#"{ "keyframes": [ { "t": 0, "focus": 0.5, "ease": "bounce" } ] }"#, &["key 0", "ease \"bounce\" is unknown"]);
    assert_says(r#"{ "keyframes": [ { "t": "00:61:00", "focus": 0.5 } ] }"#, &["key 0", "is not a time"]);
    assert_says(r#"{ "keyframes": [ { "t": "soon", "focus": 0.5 } ] }"#, &["key 0", "is not a time"]);
}

#[test]
fn keys_out_of_order() {
    assert_says(
        r#"{ "keyframes": [ { "t": 0, "focus": 0.5 }, { "t": 2, "focus": 0.5 }, { "t": "00:00:01.500", "focus": 0.5 } ] }"#,
        &["key 2", "out of order", "1.5", "key 1"],
    );
    assert_says(r#"{ "keyframes": [ { "frame": 10, "focus": 0.5 }, { "frame": 10, "focus": 0.2 } ] }"#, &["key 1", "out of order"]);
    assert_says(r#"{ "frames": [ { "frame": 1, "focus": 0.5 }, { "frame": 0, "focus": 0.2 } ] }"#, &["key 1", "out of order"]);
}

#[test]
fn t_and_frame_mixed() {
    assert_says(r#"{ "keyframes": [ { "t": 0, "frame": 0, "focus": 0.5 } ] }"#, &["key 0", "t and frame mixed"]);
    assert_says(
        r#"{ "keyframes": [ { "t": 0, "focus": 0.5 }, { "t": 1, "focus": 0.5 }, { "frame": 50, "focus": 0.2 } ] }"#,
        &["key 2", "t and frame mixed"],
    );
}

#[test]
fn a_key_needs_a_place_and_one_target() {
    assert_says(r#"{ "keyframes": [ { "focus": 0.5 } ] }"#, &["key 0", "needs t"]);
    assert_says(r#"{ "keyframes": [ { "t": 0 } ] }"#, &["key 0", "needs focus"]);
    assert_says(r#"{ "keyframes": [ { "t": 0, "focus": 0.5, "focus_at": [0.5, 0.5] } ] }"#, &["key 0", "both given"]);
}

#[test]
fn files_name_themselves_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.json");
    std::fs::write(&p, r#"{ "keyframes": [ { "t": 0, "focus": 2 } ] }"#).unwrap();
    let msg = format!("{:#}", Track::from_path(&p).unwrap_err());
    assert!(msg.contains("bad.json") && msg.contains("key 0"), "{msg}");
    let missing = format!("{:#}", Track::from_path(&dir.path().join("nope.json")).unwrap_err());
    assert!(missing.contains("nope.json"), "{missing}");
}
