//! `scripts/gpu-check.sh`, the prepared check for a lent GPU machine, checked where no GPU is:
//! its syntax (bash -n, shellcheck where installed) and the two ways it ends without a benchmark
//! (the binary not carried; no CUDA-capable ONNX Runtime), each with its report in `$OUT`.

use std::path::PathBuf;
use std::process::Command;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/gpu-check.sh")
}

#[test]
fn syntax_and_shellcheck() {
    let s = Command::new("bash").arg("-n").arg(script()).status().expect("bash");
    assert!(s.success());
    match Command::new("shellcheck").arg(script()).output() {
        Ok(o) => assert!(o.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&o.stdout)),
        Err(_) => eprintln!("shellcheck not installed: only bash -n checked"),
    }
}

/// Run the script with `bench` as the benchmark binary and no Python; (status, summary, report).
fn run(bench: &str) -> (i32, String, String) {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new("bash")
        .arg(script())
        .env("OUT", out.path())
        .env("COMPUTE_BENCH", bench)
        .env("PYTHON", "/nonexistent/python3")
        .env_remove("ORT_GPU_LIB")
        .output()
        .expect("bash");
    let read = |n: &str| std::fs::read_to_string(out.path().join(n)).unwrap_or_default();
    (o.status.code().unwrap_or(-1), read("summary.txt"), read("report.txt"))
}

#[test]
fn a_missing_binary_still_reports_the_machine() {
    let (code, summary, report) = run("/nonexistent/compute_bench");
    assert_eq!(code, 2, "{report}");
    assert!(summary.contains("MISSING") && summary.contains("carry"), "{summary}");
    assert!(report.contains("== GPU ==") && report.contains("== CUDA libraries"), "{report}");
}

#[test]
fn no_cuda_runtime_is_said_and_exits_zero() {
    let (code, summary, report) = run("/bin/true");
    if summary.contains("ONNX Runtime with CUDA:") {
        eprintln!("this machine has a CUDA-capable ONNX Runtime: the no-runtime path is not checked here");
        return;
    }
    assert_eq!(code, 0, "{report}");
    assert!(summary.contains("NO CUDA-capable ONNX Runtime"), "{summary}");
    assert!(!summary.contains("bench "), "no benchmark without a runtime and without Python's: {summary}");
}
