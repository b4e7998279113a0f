//! `--report FILE.json`: what ran, for the colleague who must know exactly which model and
//! settings made a shot (schemas/report.schema.json).

use anyhow::Result;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The report format's version.
pub const REPORT_VERSION: u32 = 1;

/// Warnings logged during the run, kept for the report (the first 200).
static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A tracing layer that keeps every warning and error message.
pub struct WarningLog;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarningLog {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() > tracing::Level::WARN {
            return;
        }
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                } else {
                    self.0.push_str(&format!(" {}={value:?}", field.name()));
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        if let Ok(mut w) = WARNINGS.lock() {
            if w.len() < 200 {
                w.push(m.0);
            }
        }
    }
}

pub fn warnings() -> Vec<String> {
    WARNINGS.lock().map(|w| w.clone()).unwrap_or_default()
}

/// A model file that ran: its path, sha256 and the execution provider that really ran it.
pub fn model_entry(role: &str, path: &Path, provider: Option<String>) -> Value {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    json!({
        "role": role,
        "path": abs.display().to_string(),
        "sha256": crate::sha256_file(path).ok(),
        "provider": provider,
    })
}

/// What a front end knows when it writes a report.
pub struct Report {
    pub command: &'static str,
    pub input: Value,
    pub output: Value,
    /// Every resolved option: `{"name": {"value": …, "source": "flag"|"preset"|"default"}}`.
    pub options: Value,
    pub models: Vec<Value>,
    pub stages: Value,
    pub frames_dropped: u64,
    pub cancelled: bool,
}

impl Report {
    pub fn write(&self, path: &Path, overwrite: bool) -> Result<()> {
        let doc = json!({
            "version": REPORT_VERSION,
            "deeplens": env!("CARGO_PKG_VERSION"),
            "command": self.command,
            "input": self.input,
            "output": self.output,
            "options": self.options,
            "models": self.models,
            "stages_median_ms": self.stages,
            "frames_dropped": self.frames_dropped,
            "packets_damaged": crate::video::damaged_packets(),
            "cancelled": self.cancelled,
            "warnings": warnings(),
        });
        let mut text = serde_json::to_string_pretty(&doc)?;
        text.push('\n');
        let t = crate::outfile::TempOutput::new(path, overwrite)?;
        std::fs::write(&t.tmp, text)?;
        t.commit()
    }
}

/// Per-stage medians of a run.
pub fn stage_medians(times: &crate::pipeline::StageTimes) -> Value {
    let mut m = serde_json::Map::new();
    for (name, ms, n) in times.rows().into_iter().filter(|r| r.2 > 0) {
        m.insert(name.replace(" blur", "").replace(" ", "_"), json!({"median_ms": (ms * 1000.0).round() / 1000.0, "frames": n}));
    }
    Value::Object(m)
}

/// An option's value and where it came from.
pub fn opt(value: impl serde::Serialize, from_flag: bool, from_preset: bool) -> Value {
    json!({
        "value": value,
        "source": if from_flag { "flag" } else if from_preset { "preset" } else { "default" },
    })
}

/// The absolute path of a file we wrote or read, as text.
pub fn abs(p: &Path) -> String {
    std::path::absolute(p).unwrap_or_else(|_| PathBuf::from(p)).display().to_string()
}
