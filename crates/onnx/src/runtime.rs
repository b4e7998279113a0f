//! ONNX Runtime discovery and execution providers.
//!
//! The runtime is a shared library loaded at run time (`ort`'s `load-dynamic`), and only when a
//! model is about to run: a still rendered from a given depth with the physical renderer never
//! touches it. The library is looked for, in order, at `--ort-lib`, `ORT_DYLIB_PATH`, the
//! project cache `.cache/onnxruntime/` (filled by `make ort`), and beside the binary.
//!
//! `--device auto` takes the CUDA execution provider when the loaded runtime has it and a GPU
//! answers, else the CPU; `cuda` fails clearly where it can't. The provider that really runs a
//! session is logged and returned, since ONNX Runtime silently falls back to the CPU otherwise.

use deeplens_core::{ErrorKind, Kind, Result};
use ort::ep::{ExecutionProvider, TensorRT, CPU, CUDA};
use ort::session::Session;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Where models run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// CUDA when available, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
    /// TensorRT (with CUDA under it for what TensorRT does not take), where the loaded runtime
    /// has it; engines are cached in the system's temporary folder, so only the first run of a
    /// model at a size builds one.
    TensorRt,
}

/// The arithmetic a model's weights and activations use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    Fp32,
    /// Half precision: each model's `NAME.fp16.onnx` beside `NAME.onnx` (made by
    /// `models/training/to_fp16.py`; float32 inputs and outputs, float16 inside). Meant for GPUs;
    /// on a CPU ONNX Runtime computes it with casts, slower than float32.
    Fp16,
}

impl Precision {
    /// The file to load for the model at `path`: itself, or its half-precision form, which must
    /// exist (one clear error naming it otherwise).
    pub fn model_file(self, path: &Path) -> Result<PathBuf> {
        match self {
            Precision::Fp32 => Ok(path.to_path_buf()),
            Precision::Fp16 => {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let stem = name.strip_suffix(".onnx").unwrap_or(&name);
                let half = path.with_file_name(format!("{stem}.fp16.onnx"));
                if half.is_file() {
                    Ok(half)
                } else {
                    deeplens_core::fail!(Model, "--precision fp16: {} has no half-precision form ({} not found; make it with models/training/to_fp16.py)", path.display(), half.display())
                }
            }
        }
    }
}

/// Runtime settings shared by every session of a run.
#[derive(Clone, Debug, Default)]
pub struct RuntimeOptions {
    pub library: Option<PathBuf>,
    pub device: Device,
    /// Intra-op threads per session (0 = ONNX Runtime's default).
    pub threads: usize,
    /// Which form of each model to load ([`Precision::model_file`]).
    pub precision: Precision,
}

static ENV: OnceLock<ort::environment::Environment> = OnceLock::new();
static LOADED: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();

const LIB_NAMES: &[&str] = &["libonnxruntime.so", "libonnxruntime.dylib", "onnxruntime.dll"];

fn candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = explicit {
        c.push(p.to_path_buf());
        return c;
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        c.push(PathBuf::from(p));
        return c;
    }
    // Never relative to the current directory: running deeplens inside an untrusted folder must
    // not load that folder's library.
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            // target/{debug,release}/deeplens → repository root's cache.
            for up in dir.ancestors().take(4) {
                dirs.push(up.join(".cache/onnxruntime"));
            }
            dirs.push(dir.to_path_buf());
        }
    }
    for d in dirs {
        for name in LIB_NAMES {
            c.push(d.join(name));
        }
        // Versioned names as shipped in the PyPI wheel (libonnxruntime.so.1.xx.y).
        if let Ok(rd) = std::fs::read_dir(&d) {
            let mut v: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so.")))
                .collect();
            v.sort();
            c.extend(v.into_iter().rev());
        }
    }
    c
}

/// Load the ONNX Runtime library once per process. Later calls return the path loaded first.
pub fn ensure_loaded(explicit: Option<&Path>) -> Result<PathBuf> {
    let cell = LOADED.get_or_init(|| Mutex::new(None));
    let mut guard = cell.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.as_ref() {
        return Ok(p.clone());
    }
    let cands = candidates(explicit);
    let found = cands.iter().find(|p| p.is_file()).cloned();
    let Some(lib) = found else {
        let looked: Vec<String> = if let Some(p) = explicit {
            vec![p.display().to_string()]
        } else if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
            vec![format!("ORT_DYLIB_PATH={}", PathBuf::from(p).display())]
        } else {
            vec!["ORT_DYLIB_PATH (unset)".into(), "the project's .cache/onnxruntime/ above the binary".into(), "beside the binary".into()]
        };
        deeplens_core::fail!(Device, 
            "ONNX Runtime library not found (looked at {}); run `make ort` to install it into .cache/onnxruntime, or pass --ort-lib /path/to/libonnxruntime.so",
            looked.join(", ")
        );
    };
    let builder = ort::init_from(&lib).map_err(|e| deeplens_core::err!(Device, "cannot load ONNX Runtime from {}: {e}", lib.display()))?;
    let env = builder.with_name("deeplens").build().map_err(|e| deeplens_core::err!(Device, "cannot start ONNX Runtime from {}: {e}", lib.display()))?;
    // Sessions hold the environment weakly: keep it for the whole process.
    let _ = ENV.set(env);
    tracing::info!(library = %lib.display(), "ONNX Runtime loaded");
    *guard = Some(lib.clone());
    Ok(lib)
}

/// What is known of the ONNX Runtime library this process loaded.
#[derive(Clone, Debug)]
pub struct LoadedRuntime {
    pub library: PathBuf,
    /// The version, read from the build description (`git-branch=rel-1.22.0` → `1.22.0`).
    pub version: Option<String>,
    /// ONNX Runtime's build description: version, git commit, build type.
    pub build_info: String,
    /// Whether the library was built with the CUDA execution provider (a GPU may still be
    /// missing; the provider a session really got is [`LoadedModel::provider`]).
    pub cuda_built: bool,
}

/// The ONNX Runtime library loaded by [`ensure_loaded`], if one is.
pub fn loaded_runtime() -> Option<LoadedRuntime> {
    let library = LOADED.get()?.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
    let build_info = ort::info().to_string();
    let version = version_string(&library).or_else(|| {
        build_info.split([',', ' ']).find_map(|part| part.trim().strip_prefix("git-branch=rel-")).map(str::to_string)
    });
    Some(LoadedRuntime { library, version, build_info, cuda_built: CUDA::is_available().unwrap_or(false) })
}

/// The version the library at `lib` reports (`OrtGetApiBase()->GetVersionString()`).
fn version_string(lib: &Path) -> Option<String> {
    // SAFETY: `lib` is the ONNX Runtime library this process already loaded (opening it again
    // only takes another reference); `OrtGetApiBase` takes nothing and returns a pointer to a
    // static table whose `GetVersionString` returns a static NUL-terminated string, copied
    // before the reference is dropped.
    unsafe {
        let l = libloading::Library::new(lib).ok()?;
        let get: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> = l.get(b"OrtGetApiBase").ok()?;
        let base = get();
        if base.is_null() {
            return None;
        }
        let s = ((*base).GetVersionString)();
        (!s.is_null()).then(|| std::ffi::CStr::from_ptr(s).to_string_lossy().into_owned())
    }
}

/// An ONNX session together with the execution provider that really runs it.
pub struct LoadedModel {
    pub session: Session,
    pub provider: &'static str,
    pub path: PathBuf,
}

/// Open a model on the requested device, in the requested precision (the file it reads is then
/// the model's half-precision form; what belongs to the model, such as a card file beside it,
/// stays with the path given).
pub fn load_model(path: &Path, opts: &RuntimeOptions) -> Result<LoadedModel> {
    let path = &opts.precision.model_file(path)?;
    let bytes = std::fs::read(path).with_kind_context(Kind::Input, || format!("cannot read model {}", path.display()))?;
    if !looks_like_onnx(&bytes) {
        deeplens_core::fail!(Model, "{} is not an ONNX model", path.display());
    }
    ensure_loaded(opts.library.as_deref())?;
    if opts.device == Device::TensorRt && !TensorRT::is_available().unwrap_or(false) {
        deeplens_core::fail!(Device, "--device tensorrt: the loaded ONNX Runtime has no TensorRT execution provider (the onnxruntime-gpu wheel's library has it, with TensorRT's own libraries installed)");
    }
    let want_cuda = match opts.device {
        Device::Cpu => false,
        Device::Cuda | Device::TensorRt => true,
        Device::Auto => CUDA::is_available().unwrap_or(false),
    };
    let build = |cuda: bool| -> Result<Session> {
        let env = ENV.get().ok_or_else(|| deeplens_core::err!(Device, "ONNX Runtime is not loaded"))?;
        let mut b = Session::builder(env).map_err(|e| deeplens_core::err!(Device, "{e}"))?;
        if opts.threads > 0 {
            b = b.with_intra_threads(opts.threads).map_err(|e| deeplens_core::err!(Device, "{e}"))?;
        }
        // Idle pool threads sleep instead of spinning: the other stages (rayon) and the
        // encoder's own threads share the cores, and a spinning pool takes them away.
        b = b.with_intra_op_spinning(false).map_err(|e| deeplens_core::err!(Device, "{e}"))?;
        b = b.with_inter_op_spinning(false).map_err(|e| deeplens_core::err!(Device, "{e}"))?;
        let eps = if cuda && opts.device == Device::TensorRt {
            let cache = std::env::temp_dir().join("deeplens-tensorrt");
            let _ = std::fs::create_dir_all(&cache);
            let trt = TensorRT::default()
                .with_engine_cache(true)
                .with_engine_cache_path(cache.display())
                .with_timing_cache(true)
                .with_timing_cache_path(cache.display())
                .with_fp16(opts.precision == Precision::Fp16);
            vec![trt.build().error_on_failure(), CUDA::default().build().error_on_failure()]
        } else if cuda {
            vec![CUDA::default().build().error_on_failure()]
        } else {
            vec![CPU::default().build()]
        };
        b = b.with_execution_providers(eps).map_err(|e| deeplens_core::err!(Device, "{e}"))?;
        b.commit_from_memory(&bytes).map_err(|e| deeplens_core::err!(Device, "{e}"))
    };
    let (session, provider) = if want_cuda {
        match build(true) {
            Ok(s) if opts.device == Device::TensorRt => (s, "TensorrtExecutionProvider"),
            Ok(s) => (s, "CUDAExecutionProvider"),
            Err(e) if opts.device == Device::Auto => {
                tracing::warn!("CUDA execution provider unavailable ({e}); running {} on the CPU", path.display());
                (build(false).map_err(|e| model_error(path, e))?, "CPUExecutionProvider")
            }
            Err(e) if opts.device == Device::TensorRt => deeplens_core::fail!(Device, "--device tensorrt: cannot run {} with the TensorRT execution provider: {e}", path.display()),
            Err(e) => deeplens_core::fail!(Device, "--device cuda: cannot run {} with the CUDA execution provider: {e}", path.display()),
        }
    } else {
        if opts.device == Device::Cuda {
            deeplens_core::fail!(Device, "--device cuda: the loaded ONNX Runtime has no CUDA execution provider (install the onnxruntime-gpu wheel's library)");
        }
        (build(false).map_err(|e| model_error(path, e))?, "CPUExecutionProvider")
    };
    tracing::info!(model = %path.display(), provider, "model loaded");
    Ok(LoadedModel { session, provider, path: path.to_path_buf() })
}

fn model_error(path: &Path, e: deeplens_core::Error) -> deeplens_core::Error {
    deeplens_core::err!(Model, "{} is not a usable ONNX model: {e}", path.display())
}

/// A protobuf ModelProto starts with field 1 (ir_version, varint) or another small field tag;
/// text, images and video never do. This catches the common mistakes with a clear message.
fn looks_like_onnx(bytes: &[u8]) -> bool {
    bytes.len() > 16 && matches!(bytes[0], 0x08 | 0x12 | 0x1a | 0x22 | 0x2a | 0x3a | 0x42)
}

/// Names of a session's inputs and outputs.
pub fn io_names(s: &Session) -> (Vec<String>, Vec<String>) {
    (
        s.inputs().iter().map(|o| o.name().to_string()).collect(),
        s.outputs().iter().map(|o| o.name().to_string()).collect(),
    )
}

/// A custom metadata value of the model.
pub fn metadata(s: &Session, key: &str) -> Option<String> {
    s.metadata().ok().and_then(|m| m.custom(key))
}
