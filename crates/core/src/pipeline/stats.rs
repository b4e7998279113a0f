//! Timings of a run.

/// Milliseconds spent in each stage on one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageMs {
    pub depth: f64,
    pub lens: f64,
    pub upsample: f64,
}

impl StageMs {
    /// Time per frame the stages need when they overlap on `cores` cores: the slowest stage, or
    /// all of them shared out over the cores, whichever is longer.
    pub fn frame_cost(&self, cores: f64) -> f64 {
        self.depth.max(self.lens).max(self.upsample).max((self.depth + self.lens + self.upsample) / cores.max(1.0))
    }

    /// Move each stage's time `a` of the way toward `new` (an exponential moving average).
    pub fn mix(&mut self, new: &StageMs, a: f64) {
        self.depth += a * (new.depth - self.depth);
        self.lens += a * (new.lens - self.lens);
        self.upsample += a * (new.upsample - self.upsample);
    }
}

/// Milliseconds per frame for each stage.
#[derive(Clone, Debug, Default)]
pub struct StageTimes {
    pub decode: Vec<f64>,
    pub depth: Vec<f64>,
    pub lens: Vec<f64>,
    pub upsample: Vec<f64>,
    pub encode: Vec<f64>,
}

/// The summary of a run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub frames: u64,
    pub seconds: f64,
    pub times: StageTimes,
}

/// Median of a list of numbers (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

impl StageTimes {
    pub fn rows(&self) -> Vec<(&'static str, f64, usize)> {
        [("decode", &self.decode), ("depth", &self.depth), ("lens blur", &self.lens), ("upsample", &self.upsample), ("encode", &self.encode)]
            .into_iter()
            .map(|(n, v)| (n, median(v), v.len()))
            .collect()
    }
}

impl Stats {
    pub fn fps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.frames as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Peak resident set size of this process in MiB (Linux; None elsewhere).
pub fn peak_rss_mib() -> Option<f64> {
    proc_status_mib("VmHWM:")
}

/// User + system CPU seconds of this process, all threads (Linux; None elsewhere).
pub fn cpu_seconds() -> Option<f64> {
    proc_stat_seconds(11)
}

/// User + system CPU seconds of the waited-for children of this process (Linux; None elsewhere).
pub fn children_cpu_seconds() -> Option<f64> {
    proc_stat_seconds(13)
}

/// The sum of two adjacent tick counters of /proc/self/stat, `at` counted from its state field.
fn proc_stat_seconds(at: usize) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(at)?.parse::<f64>().ok()? + f.get(at + 1)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Resident set size of this process now, in MiB (Linux; None elsewhere).
pub fn current_rss_mib() -> Option<f64> {
    proc_status_mib("VmRSS:")
}

fn proc_status_mib(key: &str) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_even_and_odd() {
        assert_eq!(super::median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
