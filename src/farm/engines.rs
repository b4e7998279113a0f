//! Adapters for existing render-farm engines: each writes the engine's own job files into the
//! plan's folder (`slurm/`, `k8s/`, `openjd/`): one task per segment, and a join that runs after
//! all of them succeeded.

use super::Plan;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The deeplens binary the job files call (this one, unless `DEEPLENS` names another).
fn deeplens_exe() -> String {
    std::env::var("DEEPLENS").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| {
        std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "deeplens".into())
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Refuse values that would change the meaning of a job file (quotes, newlines, spaces …).
fn check_token(flag: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.len() > 200 || !v.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:/@+=,".contains(c)) {
        bail!("{flag} '{}': only letters, digits and _-.:/@+=, are allowed", v.escape_debug());
    }
    Ok(())
}

/// Single-quote a string for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn write_file(path: &Path, text: &str, executable: bool) -> Result<()> {
    super::write_atomic(path, text, true)?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).with_context(|| format!("cannot make {} executable", path.display()))?;
    }
    Ok(())
}

/// What each segment task runs with: flags for its `render-segment` (`--device`, `--precision`,
/// `--hwaccel`) and the GPUs it asks the scheduler for.
#[derive(Clone, Debug, Default)]
pub struct Node {
    pub flags: Vec<String>,
    pub gpus: Option<u32>,
}

impl Node {
    fn check(&self) -> Result<()> {
        if self.gpus.is_some_and(|g| g == 0 || g > 64) {
            bail!("--gpus must be between 1 and 64");
        }
        Ok(())
    }

    /// The flags as they follow `render-segment PLAN K` in a shell line.
    fn shell_flags(&self) -> String {
        self.flags.iter().map(|f| format!(" {}", sh_quote(f))).collect()
    }
}

/// `deeplens farm slurm` options.
#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub time: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub submit: bool,
    pub node: Node,
}

/// What was written (and submitted).
pub struct SlurmJobs {
    pub segments_script: PathBuf,
    pub join_script: PathBuf,
    /// Job ids when submitted: the array job and the join.
    pub ids: Option<(String, String)>,
}

/// An sbatch array job of one task per segment and a join job that depends on it (`afterok`).
pub fn slurm(plan_path: &Path, opts: &SlurmOptions) -> Result<SlurmJobs> {
    let (plan, dir) = super::load_plan(plan_path)?;
    if let Some(p) = &opts.partition {
        check_token("--partition", p)?;
    }
    if let Some(t) = &opts.time {
        check_token("--time", t)?;
    }
    if opts.cpus_per_task.is_some_and(|c| c == 0 || c > 4096) {
        bail!("--cpus-per-task must be between 1 and 4096");
    }
    opts.node.check()?;
    let dir = absolute(&dir);
    let plan_file = plan_path.file_name().context("plan path has no file name")?.to_string_lossy().into_owned();
    let out = dir.join("slurm");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let exe = deeplens_exe();
    let mut common = String::new();
    common.push_str(&format!("#SBATCH --chdir={}\n", dir.display()));
    if let Some(p) = &opts.partition {
        common.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    if let Some(t) = &opts.time {
        common.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if let Some(c) = opts.cpus_per_task {
        common.push_str(&format!("#SBATCH --cpus-per-task={c}\n"));
    }
    let n = plan.segments.len();
    let gpus = opts.node.gpus.map(|g| format!("#SBATCH --gpus-per-task={g}\n")).unwrap_or_default();
    let segments = format!(
        "#!/bin/bash\n# deeplens: render the {n} segments of {plan_file} (written by `deeplens farm slurm`).\n#SBATCH --job-name=deeplens-seg\n#SBATCH --array=0-{last}\n#SBATCH --requeue\n#SBATCH --output=slurm/segment-%a.log\n{common}{gpus}set -euo pipefail\nexec {exe} render-segment {plan} \"$SLURM_ARRAY_TASK_ID\"{node}\n",
        last = n - 1,
        exe = sh_quote(&exe),
        plan = sh_quote(&plan_file),
        node = opts.node.shell_flags(),
    );
    let join = format!(
        "#!/bin/bash\n# deeplens: join the segments of {plan_file} once all are rendered.\n#SBATCH --job-name=deeplens-join\n#SBATCH --output=slurm/join.log\n{common}set -euo pipefail\nexec {exe} join {plan}\n",
        exe = sh_quote(&exe),
        plan = sh_quote(&plan_file),
    );
    let segments_script = out.join("segments.sbatch");
    let join_script = out.join("join.sbatch");
    write_file(&segments_script, &segments, true)?;
    write_file(&join_script, &join, true)?;
    let ids = if opts.submit {
        let first = sbatch(&[], &segments_script)?;
        let second = sbatch(&[format!("--dependency=afterok:{first}"), "--kill-on-invalid-dep=yes".into()], &join_script)?;
        Some((first, second))
    } else {
        None
    };
    Ok(SlurmJobs { segments_script, join_script, ids })
}

/// Submit one script with `sbatch --parsable`; the job id.
fn sbatch(extra: &[String], script: &Path) -> Result<String> {
    let o = Command::new("sbatch")
        .arg("--parsable")
        .args(extra)
        .arg(script)
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run sbatch ({e}); is Slurm installed and on PATH?"))?;
    if !o.status.success() {
        bail!("sbatch {} failed: {}", script.display(), String::from_utf8_lossy(&o.stderr).trim());
    }
    let out = String::from_utf8_lossy(&o.stdout);
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch {}: unexpected answer '{}'", script.display(), out.trim());
    }
    Ok(id)
}

/// `deeplens farm k8s` options.
pub struct K8sOptions {
    pub image: String,
    pub claim: String,
    /// Where the claim is mounted in the pods.
    pub mount: String,
    /// The plan's path inside the pods (default: the mount + the plan's path from here).
    pub plan_in_pod: Option<String>,
    pub node: Node,
}

/// A DNS-1123 name from the output's file name.
fn k8s_name(plan: &Plan) -> String {
    let stem = Path::new(&plan.output).file_stem().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default();
    let mut name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    name = name.trim_matches('-').chars().take(40).collect::<String>().trim_end_matches('-').to_string();
    if name.is_empty() {
        name = "clip".into();
    }
    format!("deeplens-{name}")
}

/// An Indexed Job over the segments (`JOB_COMPLETION_INDEX`) and a join Job, plus `run.sh`
/// that applies the first, waits for it to complete, and applies the second.
pub fn k8s(plan_path: &Path, opts: &K8sOptions) -> Result<Vec<PathBuf>> {
    let (plan, dir) = super::load_plan(plan_path)?;
    check_token("--image", &opts.image)?;
    check_token("--volume", &opts.claim)?;
    check_token("--mount", &opts.mount)?;
    opts.node.check()?;
    let in_pod = match &opts.plan_in_pod {
        Some(p) => p.clone(),
        None => {
            let rel = plan_path.strip_prefix(".").unwrap_or(plan_path);
            if rel.is_absolute() {
                bail!("the plan's path is absolute; pass --plan-in-pod with its path inside the pods");
            }
            format!("{}/{}", opts.mount.trim_end_matches('/'), rel.display())
        }
    };
    check_token("--plan-in-pod", &in_pod)?;
    let name = k8s_name(&plan);
    let n = plan.segments.len();
    let pod = |args: Vec<String>, segment: bool| {
        let mut container = serde_json::json!({
            "name": "deeplens",
            "image": opts.image,
            "command": ["deeplens"],
            "args": args,
            "volumeMounts": [{"name": "work", "mountPath": opts.mount}],
        });
        if let Some(g) = opts.node.gpus.filter(|_| segment) {
            container["resources"] = serde_json::json!({"limits": {"nvidia.com/gpu": g}});
        }
        if segment {
            container["env"] = serde_json::json!([{
                "name": "JOB_COMPLETION_INDEX",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}
            }]);
        }
        serde_json::json!({
            "spec": {
                "restartPolicy": "Never",
                "containers": [container],
                "volumes": [{"name": "work", "persistentVolumeClaim": {"claimName": opts.claim}}],
            }
        })
    };
    let segments = serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": format!("{name}-segments"), "labels": {"app.kubernetes.io/name": "deeplens"}},
        "spec": {
            "completionMode": "Indexed",
            "completions": n,
            "parallelism": n,
            "backoffLimit": 3 * n,
            "template": pod([vec!["render-segment".into(), in_pod.clone(), "$(JOB_COMPLETION_INDEX)".into()], opts.node.flags.clone()].concat(), true),
        }
    });
    let join = serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": format!("{name}-join"), "labels": {"app.kubernetes.io/name": "deeplens"}},
        "spec": {
            "completions": 1,
            "backoffLimit": 3,
            "template": pod(vec!["join".into(), in_pod.clone()], false),
        }
    });
    let out = dir.join("k8s");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let seg_path = out.join("segments-job.json");
    let join_path = out.join("join-job.json");
    write_file(&seg_path, &(serde_json::to_string_pretty(&segments)? + "\n"), false)?;
    write_file(&join_path, &(serde_json::to_string_pretty(&join)? + "\n"), false)?;
    let run = format!(
        "#!/bin/sh\n# deeplens: render the segments as an Indexed Job, then join them (written by `deeplens farm k8s`).\nset -eu\ncd \"$(dirname \"$0\")\"\nkubectl apply -f segments-job.json\nkubectl wait --for=condition=complete --timeout=-1s job/{name}-segments\nkubectl apply -f join-job.json\nkubectl wait --for=condition=complete --timeout=-1s job/{name}-join\n"
    );
    let run_path = out.join("run.sh");
    write_file(&run_path, &run, true)?;
    Ok(vec![seg_path, join_path, run_path])
}

/// An Open Job Description template: a step over the segment index and a join step that
/// depends on it. The plan file and the deeplens binary are job parameters; `node` says what each
/// segment task runs with (its GPUs as a host requirement).
pub fn openjd(plan_path: &Path, node: &Node) -> Result<PathBuf> {
    let (plan, dir) = super::load_plan(plan_path)?;
    node.check()?;
    let n = plan.segments.len();
    let range = if n == 1 { "0".to_string() } else { format!("0-{}", n - 1) };
    let plan_abs = absolute(plan_path).display().to_string();
    let segment_args: Vec<String> = ["render-segment", "{{Param.PlanFile}}", "{{Task.Param.Segment}}"].into_iter().map(String::from).chain(node.flags.iter().cloned()).collect();
    let mut template = serde_json::json!({
        "specificationVersion": "jobtemplate-2023-09",
        "name": format!("deeplens {}", Path::new(&plan.output).file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()).chars().take(120).collect::<String>(),
        "parameterDefinitions": [
            {"name": "PlanFile", "type": "PATH", "objectType": "FILE", "dataFlow": "IN", "default": plan_abs, "description": "The deeplens plan (its folder holds the segments)."},
            {"name": "Deeplens", "type": "STRING", "default": deeplens_exe(), "description": "The deeplens binary on the workers."}
        ],
        "steps": [
            {
                "name": "Segments",
                "parameterSpace": {"taskParameterDefinitions": [{"name": "Segment", "type": "INT", "range": range}]},
                "script": {"actions": {"onRun": {"command": "{{Param.Deeplens}}", "args": segment_args}}}
            },
            {
                "name": "Join",
                "dependencies": [{"dependsOn": "Segments"}],
                "script": {"actions": {"onRun": {"command": "{{Param.Deeplens}}", "args": ["join", "{{Param.PlanFile}}"]}}}
            }
        ]
    });
    if let Some(g) = node.gpus {
        template["steps"][0]["hostRequirements"] = serde_json::json!({"amounts": [{"name": "amount.worker.gpu", "min": g}]});
    }
    let out = dir.join("openjd");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("job.template.json");
    write_file(&path, &(serde_json::to_string_pretty(&template)? + "\n"), false)?;
    Ok(path)
}
