//! The stages of one frame, and the frame engine that runs them over a stream.
//!
//! [`Stages`] holds the per-frame compute: depth, focus, lens blur, guided upsampling. A still
//! calls them one after another ([`Stages::process`]); a stream goes through [`spawn`], the one
//! place stage threads are made: each stage on its own thread, joined by bounded crossbeam
//! channels, so stages overlap and throughput is set by the slowest one. Frames keep their
//! order because every stage is one thread reading one channel in order; the lens stage may be
//! several threads ([`EngineOptions::lens_threads`]) taking frames in a fixed turn, dealt and
//! collected in that turn. Memory stays flat: at most `capacity` frames wait between two stages,
//! whatever the length.
//!
//! A [`Schedule`] says how frames are let in: [`Schedule::Bounded`] for files (the source waits
//! when the stages are full), [`Schedule::NewestWins`] for live sources (a [`NewestSlot`] that
//! never waits, and a limit on frames in flight). [`run`] drives a whole stream: a [`Source`]
//! on its own thread feeding the stages through a [`Feed`], a [`Sink`] on the caller's thread
//! taking the [`Finished`] frames; the front ends (`convert` and `render-segment`, `preview`)
//! are a source, a sink and [`EngineOptions`]. A still (`image`) has no stream and calls
//! [`Stages::process_until`] on its own thread.

mod stats;

pub use stats::{children_cpu_seconds, cpu_seconds, current_rss_mib, median, peak_rss_mib, StageMs, StageTimes, Stats};

use crate::depth::DepthModel;
use crate::focus::{FocusController, FocusState};
use crate::frame::{Plane, RgbImage};
use crate::lens::{LensBlur, LensParams};
use crate::upsample::{self, Upsampler};
pub use crate::upsample::{Output, OutputForm};
use crate::{Error, Kind, Result};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A frame as a source hands it to the stages. Each stage turns what it is given into the next
/// type ([`Planned`], [`Rendered`], [`Finished`]), so a stage cannot run before the one it needs
/// and a sink gets every output without `Option`s.
pub struct Job {
    pub index: u64,
    /// Timestamp in the source's time base (carried to the encoder untouched).
    pub pts: i64,
    /// Seconds from the first frame.
    pub t: f64,
    /// When the frame left its source (for latency).
    pub born: Instant,
    pub full: RgbImage,
    /// A depth given from outside (`--depth`), at any size; the depth stage predicts otherwise.
    pub given_depth: Option<Plane>,
    /// Milliseconds each stage spent on this frame.
    pub ms: StageMs,
    /// A mark the engine's `prepare` hook may set (live: the working-resolution level).
    pub mark: u32,
}

impl Job {
    pub fn new(index: u64, pts: i64, t: f64, full: RgbImage) -> Self {
        Self { index, pts, t, born: Instant::now(), full, given_depth: None, ms: StageMs::default(), mark: 0 }
    }
}

/// What the depth stage reads from a frame: its (stabilised) depth, foreground and focus.
pub struct Analysis {
    pub depth: Plane,
    /// The model's foreground probability map, when it has a foreground head.
    pub foreground: Option<Plane>,
    pub focus: FocusState,
}

/// A frame after the depth stage: analysed, its working picture and lens settings chosen.
pub struct Planned {
    pub job: Job,
    pub analysis: Analysis,
    /// The frame at the working resolution.
    pub work: RgbImage,
    /// Lens settings at the working resolution.
    pub lens: LensParams,
}

/// A frame after the lens stage.
pub struct Rendered {
    pub planned: Planned,
    /// The lens blur at the working resolution.
    pub render: RgbImage,
    /// The depth at the working resolution, as the lens blur used it.
    pub work_depth: Plane,
}

/// A frame out of the engine: every stage's output.
pub struct Finished {
    pub index: u64,
    pub pts: i64,
    pub t: f64,
    pub born: Instant,
    /// The frame as it came in.
    pub full: RgbImage,
    pub depth: Plane,
    pub foreground: Option<Plane>,
    pub focus: FocusState,
    /// Lens settings at the working resolution.
    pub lens: LensParams,
    /// Size of the working picture the depth stage chose.
    pub work_size: (usize, usize),
    /// The result, at the size of `full`, in the form the run asked for
    /// ([`EngineOptions::output`]).
    pub output: Output,
    pub ms: StageMs,
    pub mark: u32,
}

/// How the working resolution is chosen.
#[derive(Clone, Copy, Debug)]
pub struct WorkingPolicy {
    /// The widest working picture the lens blur gets.
    pub max_width: usize,
    /// The largest blur radius (working pixels) the renderer should see; halve further past it.
    pub max_radius: f32,
    /// Never halve more than this many times.
    pub max_steps: u32,
}

impl Default for WorkingPolicy {
    fn default() -> Self {
        Self { max_width: 960, max_radius: 32.0, max_steps: 5 }
    }
}

impl WorkingPolicy {
    /// Number of ×2 halvings from the output size to the working size.
    pub fn steps(&self, out_width: usize, blur_px: f32) -> u32 {
        let mut k = 0;
        while k < self.max_steps && ((out_width >> k) > self.max_width || blur_px / (1u32 << k) as f32 > self.max_radius) && (out_width >> (k + 1)) >= 16 {
            k += 1;
        }
        k
    }
}

/// The per-frame compute of the pipeline: one part per stage thread.
pub struct Stages {
    pub depth: DepthStage,
    pub lens: Box<dyn LensBlur>,
    pub upsampler: Box<dyn Upsampler>,
}

/// Depth, focus and the choice of working resolution, which run on the depth thread.
pub struct DepthStage {
    /// The network; `None` when every frame comes with a given depth.
    pub model: Option<Box<dyn DepthModel>>,
    pub focus: FocusController,
    pub policy: WorkingPolicy,
    /// Lens settings other than focus and blur (aperture shape, highlights).
    pub lens_template: LensParams,
    /// Width of the picture as displayed (for blur given as a share of it).
    pub display_width: usize,
    pub stabilizer: Option<crate::focus::DepthStabilizer>,
}

impl DepthStage {
    /// Analyse the frame, then choose its working picture and lens settings.
    pub fn run(&mut self, mut job: Job) -> Result<Planned> {
        let analysis = self.analyse(&mut job)?;
        let (w, h) = (job.full.width, job.full.height);
        let focus = analysis.focus;
        // A radius past the picture's diagonal blurs no more; it only costs (a 1×1 picture asked
        // for a 1000 px blur must not run for minutes).
        let diag = ((w * w + h * h) as f32).sqrt();
        let blur_px = focus.blur.to_pixels(self.display_width).min(diag);
        let k = self.policy.steps(w, blur_px);
        let (ww, wh) = upsample::working_size((w, h), k);
        let scale = ww as f32 / w as f32;
        let work = job.full.resize(ww, wh);
        let lens = LensParams { focus: focus.focus, max_blur: blur_px * scale, ..self.lens_template };
        Ok(Planned { job, analysis, work, lens })
    }

    /// The temporal part of [`run`](Self::run) alone: the frame's (stabilised) depth, its
    /// foreground and its focus, without choosing a working picture. A plan's analysis pass
    /// (`deeplens plan`) runs this over the whole clip so segments start from the same state.
    /// A given depth is taken out of the job.
    pub fn analyse(&mut self, job: &mut Job) -> Result<Analysis> {
        let (depth, foreground) = match job.given_depth.take() {
            Some(d) => (d, None),
            None => {
                let m = self.model.as_mut().ok_or_else(|| Error::msg(Kind::Model, "no depth model and no depth given"))?;
                let mut p = m.predict_all(&job.full)?;
                if let Some(s) = self.stabilizer.as_mut() {
                    s.apply(&mut p.depth);
                }
                (p.depth, p.foreground)
            }
        };
        let focus = self.focus.next_with(job.index, job.t, &depth, foreground.as_ref());
        Ok(Analysis { depth, foreground, focus })
    }
}

/// Lens blur at the working resolution.
pub fn lens_stage(lens: &mut dyn LensBlur, planned: Planned) -> Result<Rendered> {
    let work_depth = planned.analysis.depth.resize(planned.work.width, planned.work.height);
    let render = lens.render(&planned.work, &work_depth, &planned.lens)?;
    Ok(Rendered { planned, render, work_depth })
}

/// Guided upsampling to the output size, the output made in `form`.
pub fn upsample_stage(up: &mut dyn Upsampler, r: Rendered, form: OutputForm) -> Result<Finished> {
    let Rendered { planned: Planned { job, analysis, work, lens }, render, work_depth } = r;
    let full_params = lens.scaled(job.full.width as f32 / work.width as f32);
    let output = upsample::upsample_into(up, &job.full, &work, &render, &analysis.depth, work_depth, &full_params, form)?;
    let Job { index, pts, t, born, full, ms, mark, .. } = job;
    let Analysis { depth, foreground, focus } = analysis;
    Ok(Finished { index, pts, t, born, full, depth, foreground, focus, lens, work_size: (work.width, work.height), output, ms, mark })
}

impl Stages {
    pub fn split(self) -> (DepthStage, Box<dyn LensBlur>, Box<dyn Upsampler>) {
        (self.depth, self.lens, self.upsampler)
    }

    /// Run every stage on one picture, in this thread (stills, and the compute benchmark frame
    /// after frame); each stage's milliseconds are added to `times`.
    pub fn process(&mut self, job: Job, times: &mut StageTimes) -> Result<Finished> {
        self.process_until(job, times, &AtomicBool::new(false))
    }

    /// [`process`](Self::process) that gives up with [`Error::Cancelled`] when `cancel` is set
    /// before a stage starts (a still's Ctrl-C).
    pub fn process_until(&mut self, job: Job, times: &mut StageTimes, cancel: &AtomicBool) -> Result<Finished> {
        let go = || if cancel.load(Ordering::Relaxed) { Err(Error::Cancelled) } else { Ok(()) };
        go()?;
        let t = Instant::now();
        let planned = self.depth.run(job)?;
        times.depth.push(ms_since(t));
        go()?;
        let t = Instant::now();
        let rendered = lens_stage(self.lens.as_mut(), planned)?;
        times.lens.push(ms_since(t));
        go()?;
        let t = Instant::now();
        let finished = upsample_stage(self.upsampler.as_mut(), rendered, OutputForm::Rgb)?;
        times.upsample.push(ms_since(t));
        go()?;
        Ok(finished)
    }
}

/// How frames are let into the stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Files: every frame is processed, and a full channel makes the one feeding it wait
    /// (back-pressure); memory stays flat whatever the length.
    Bounded,
    /// Live: the source never waits (it replaces a frame still waiting with a newer one, see
    /// [`NewestSlot`]), and at most `in_flight` frames are past it at once; the sink hands each
    /// finished frame's place back with [`Running::release`].
    NewestWins { in_flight: usize },
}

/// What the engine is told besides the stages and the input.
pub struct EngineOptions {
    /// Frames waiting between two stages at most.
    pub capacity: usize,
    pub schedule: Schedule,
    /// Set by a stage that fails (and by the caller to stop); every stage winds down.
    pub abort: Arc<AtomicBool>,
    /// Called on the depth thread with each frame before its depth stage: a live source changes
    /// focus, blur and working resolution here.
    pub prepare: Option<Box<dyn FnMut(&mut DepthStage, &mut Job) + Send>>,
    /// Called by the lens and upsampling threads with the length of their input queue.
    pub queue_probe: Option<Arc<dyn Fn(usize) + Send + Sync>>,
    /// Receives the focus controller (and so its history) when the depth thread ends.
    pub on_focus_done: Option<Sender<FocusController>>,
    /// How long [`run`] waits for the source to end once the sink has: `None`, as long as it
    /// takes (files); a live source stuck in a device read is left behind after this.
    pub source_grace: Option<std::time::Duration>,
    /// The form of [`Finished::output`]: RGB, or the encoder's own 4:2:0 picture for a sink
    /// that only encodes it.
    pub output: OutputForm,
    /// Lens threads, each rendering every n-th frame (frame `k` on thread `k mod n`, so frames
    /// stay in order): a frame's serial parts then overlap with the next frame's parallel ones.
    /// Only renderers that can [`fork`](LensBlur::fork) get more than one. Each adds a frame in
    /// flight and a renderer's scratch.
    pub lens_threads: usize,
}

impl EngineOptions {
    pub fn new(capacity: usize, schedule: Schedule, abort: Arc<AtomicBool>) -> Self {
        Self { capacity, schedule, abort, prepare: None, queue_probe: None, on_focus_done: None, source_grace: None, output: OutputForm::Rgb, lens_threads: 1 }
    }
}

/// The three compute threads between a source and a sink. Each returns its timings.
pub struct Running {
    handles: Vec<(&'static str, std::thread::JoinHandle<Result<Vec<f64>>>)>,
    tokens: Option<Sender<()>>,
}

impl Running {
    /// Give back the place of a finished frame ([`Schedule::NewestWins`]; nothing otherwise).
    pub fn release(&self) {
        if let Some(t) = &self.tokens {
            let _ = t.try_send(());
        }
    }

    /// Wait for the stage threads and collect their timings; the first error wins.
    pub fn join(self, times: &mut StageTimes) -> Result<()> {
        let mut first_err = None;
        for (name, h) in self.handles {
            match h.join() {
                Ok(Ok(v)) => match name {
                    "depth" => times.depth = v,
                    "lens" => times.lens.extend(v),
                    _ => times.upsample = v,
                },
                Ok(Err(e)) => {
                    first_err.get_or_insert(e.context(format!("{name} stage")));
                }
                Err(_) => {
                    first_err.get_or_insert(crate::err!(Model, "the {name} stage panicked"));
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Where frames come from: a file's decoder, a camera. [`run`] gives it its own thread; it hands
/// each frame to the [`Feed`] until its input ends, the feed closes (the stages stopped) or it
/// fails.
pub trait Source: Send + 'static {
    /// What the source reports when it ends (frames decoded, timings …).
    type Output: Send + 'static;
    fn run(self, feed: &Feed) -> Result<Self::Output>;
}

/// Where finished frames go: an encoder, a window. It runs on the thread that called [`run`],
/// reading frames until the engine closes the channel, or stopping early (an error, a closed
/// window): the end of the run is the sink's to decide.
pub trait Sink {
    type Output;
    /// Take finished frames from `frames`; `engine` gives back a frame's place under
    /// [`Schedule::NewestWins`] ([`Running::release`]).
    fn run(&mut self, frames: &Receiver<Finished>, engine: &Running) -> Self::Output;
}

/// The entrance of the stages, as a source sees it: bounded (a full entrance makes the source
/// wait) or a newest-wins slot, by the run's [`Schedule`].
pub struct Feed {
    entrance: Entrance,
    abort: Arc<AtomicBool>,
}

enum Entrance {
    Channel(Sender<Job>),
    Slot(NewestSlot),
}

impl Feed {
    /// Hand a frame to the stages: taken (with the frames it replaced under newest-wins), or
    /// closed when the stages have stopped.
    pub fn send(&self, job: Job) -> Put {
        match &self.entrance {
            Entrance::Channel(tx) => match tx.send(job) {
                Ok(()) => Put::Taken { replaced: 0 },
                Err(_) => Put::Closed,
            },
            Entrance::Slot(slot) => slot.put(job),
        }
    }

    /// Frames waiting at the entrance.
    pub fn waiting(&self) -> usize {
        match &self.entrance {
            Entrance::Channel(tx) => tx.len(),
            Entrance::Slot(slot) => slot.len(),
        }
    }

    /// The run is stopping (an error, or the sink ended it): a source waiting on its input gives up.
    pub fn stopped(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
}

/// What a [`run`] gives back: each side's own result, for the front end to weigh (which error
/// a user sees first is the front end's choice), and the stages' timings.
pub struct Ran<S, K> {
    /// `None`: the source had not ended within `source_grace` and was left behind.
    pub source: Option<Result<S>>,
    pub sink: K,
    pub stages: Result<()>,
    pub times: StageTimes,
    /// Frames the source handed in that never reached the stages (left in a newest-wins slot).
    pub left_waiting: u64,
}

/// The frame engine: `source` on its own thread, the stages on theirs ([`spawn`]), `sink` on
/// this one; returns when all have ended. When the sink returns, the run stops (`opts.abort` is
/// set) and everything winds down. This is how `convert`, `render-segment` and `preview` run.
pub fn run<S: Source, K: Sink>(stages: Stages, source: S, sink: &mut K, opts: EngineOptions) -> Ran<S::Output, K::Output> {
    let abort = opts.abort.clone();
    let (entrance, input) = match opts.schedule {
        Schedule::Bounded => {
            let (tx, rx) = bounded::<Job>(opts.capacity.max(1));
            (Entrance::Channel(tx), rx)
        }
        Schedule::NewestWins { .. } => {
            let slot = NewestSlot::default();
            let rx = slot.receiver();
            (Entrance::Slot(slot), rx)
        }
    };
    // Under newest-wins the slot keeps a receiving end anyway; a bounded entrance must not (a
    // source blocked on a full channel learns that the stages stopped when the last receiver goes).
    let leftovers = matches!(entrance, Entrance::Slot(_)).then(|| input.clone());
    let feed = Feed { entrance, abort: abort.clone() };
    let grace = opts.source_grace;
    let done = Arc::new(AtomicBool::new(false));
    let source_done = done.clone();
    // The source owns the feed: when it ends, the entrance closes and the stages see the end.
    let source_thread = std::thread::Builder::new()
        .name("source".into())
        .spawn(move || {
            let r = source.run(&feed);
            drop(feed);
            source_done.store(true, Ordering::Release);
            r
        })
        .expect("spawn source thread");
    let (frames, running) = spawn(stages, input, opts);
    let k = sink.run(&frames, &running);
    abort.store(true, Ordering::Relaxed);
    drop(frames);
    if let Some(g) = grace {
        let t = Instant::now();
        while !done.load(Ordering::Acquire) && t.elapsed() < g {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    let source = (grace.is_none() || done.load(Ordering::Acquire)).then(|| source_thread.join().unwrap_or_else(|_| Err(crate::err!(Input, "the source thread panicked"))));
    let mut times = StageTimes::default();
    let stages = running.join(&mut times);
    let left_waiting = leftovers.map_or(0, |l| l.try_iter().count() as u64);
    Ran { source, sink: k, stages, times, left_waiting }
}

/// The frame engine: spawn the depth, lens and upsampling threads reading `input`; finished
/// jobs come out of the returned receiver in order. This is the one place stage threads are
/// made, for stills' batches, files and live sources alike. On an error a stage stops, sets
/// `abort`, and its channels close, which winds down the others.
pub fn spawn(stages: Stages, input: Receiver<Job>, opts: EngineOptions) -> (Receiver<Finished>, Running) {
    let EngineOptions { capacity, schedule, abort, prepare, queue_probe, on_focus_done, output, lens_threads, .. } = opts;
    let (mut depth, lens, mut up) = stages.split();
    let mut lenses = vec![lens];
    while lenses.len() < lens_threads {
        match lenses[0].fork() {
            Some(l) => lenses.push(l),
            None => break,
        }
    }
    // Each lens thread has its own way in and out; the depth thread deals frames to them in
    // turn and the upsampling thread collects them in the same turn.
    let per_lens = capacity.div_ceil(lenses.len()).max(1);
    let (tx1, rx1): (Vec<_>, Vec<_>) = lenses.iter().map(|_| bounded::<Planned>(per_lens)).unzip();
    let (tx2, rx2): (Vec<_>, Vec<_>) = lenses.iter().map(|_| bounded::<Rendered>(per_lens)).unzip();
    let (tx3, rx3) = bounded::<Finished>(capacity);
    let (tokens, gate) = match schedule {
        Schedule::Bounded => (None, None),
        Schedule::NewestWins { in_flight } => {
            let (tx, rx) = bounded::<()>(in_flight.max(1));
            for _ in 0..in_flight.max(1) {
                tx.send(()).expect("token");
            }
            (Some(tx), Some(rx))
        }
    };
    let mut handles = Vec::new();
    let a = abort.clone();
    let depth_thread = move || {
        let mut prepare = prepare;
        let r = depth_loop(&input, gate.as_ref(), in_turn(tx1), &a, |mut j| {
            if let Some(p) = prepare.as_mut() {
                p(&mut depth, &mut j);
            }
            let t = Instant::now();
            let mut planned = depth.run(j)?;
            planned.job.ms.depth = ms_since(t);
            Ok(planned)
        });
        if let Some(tx) = on_focus_done {
            let _ = tx.send(depth.focus);
        }
        r
    };
    handles.push(("depth", std::thread::Builder::new().name("depth".into()).spawn(depth_thread).expect("spawn depth thread")));
    for ((mut lens, rx), tx) in lenses.into_iter().zip(rx1).zip(tx2) {
        let a = abort.clone();
        let probe = queue_probe.clone();
        let lens_thread = move || {
            let queued = || rx.len();
            timed_stage_loop(rx.iter(), queued, |r| tx.send(r).is_ok(), &a, probe, |p| lens_stage(lens.as_mut(), p), |r: &mut Rendered, ms| r.planned.job.ms.lens = ms)
        };
        handles.push(("lens", std::thread::Builder::new().name("lens".into()).spawn(lens_thread).expect("spawn lens thread")));
    }
    let up_thread = move || {
        let queued = || rx2.iter().map(|r| r.len()).sum();
        timed_stage_loop(from_each_in_turn(&rx2), queued, |f| tx3.send(f).is_ok(), &abort, queue_probe, |r| upsample_stage(up.as_mut(), r, output), |f: &mut Finished, ms| f.ms.upsample = ms)
    };
    handles.push(("upsample", std::thread::Builder::new().name("upsample".into()).spawn(up_thread).expect("spawn upsample thread")));
    (rx3, Running { handles, tokens })
}

/// [`stage_loop`] for the lens and upsampling threads: report the input queue's length to
/// `probe`, and keep the time `f` took in the frame (`keep`).
fn timed_stage_loop<I, O>(
    rx: impl Iterator<Item = I>,
    queued: impl Fn() -> usize,
    tx: impl FnMut(O) -> bool,
    abort: &AtomicBool,
    probe: Option<Arc<dyn Fn(usize) + Send + Sync>>,
    mut f: impl FnMut(I) -> Result<O>,
    keep: impl Fn(&mut O, f64),
) -> Result<Vec<f64>> {
    stage_loop(rx, tx, abort, |j| {
        if let Some(p) = &probe {
            p(queued());
        }
        let t = Instant::now();
        let mut out = f(j)?;
        keep(&mut out, ms_since(t));
        Ok(out)
    })
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// The depth thread's loop: like [`stage_loop`], but under [`Schedule::NewestWins`] it first
/// waits for a free place (`gate`), and it polls `abort` while it waits.
fn depth_loop<O>(rx: &Receiver<Job>, gate: Option<&Receiver<()>>, mut tx: impl FnMut(O) -> bool, abort: &AtomicBool, f: impl FnMut(Job) -> Result<O>) -> Result<Vec<f64>> {
    let Some(gate) = gate else {
        return stage_loop(rx.iter(), tx, abort, f);
    };
    let mut f = f;
    let mut times = Vec::new();
    let poll = std::time::Duration::from_millis(20);
    'frames: loop {
        loop {
            match gate.recv_timeout(poll) {
                Ok(()) => break,
                Err(_) if abort.load(Ordering::Relaxed) => break 'frames,
                Err(_) => {}
            }
        }
        let job = loop {
            match rx.recv_timeout(poll) {
                Ok(j) => break j,
                Err(RecvTimeoutError::Disconnected) => break 'frames,
                Err(RecvTimeoutError::Timeout) if abort.load(Ordering::Relaxed) => break 'frames,
                Err(RecvTimeoutError::Timeout) => {}
            }
        };
        if !step(job, &mut f, &mut tx, abort, &mut times)? {
            break;
        }
    }
    Ok(times)
}

/// Hand items to `txs` in turn (the `k`-th to `txs[k mod n]`); `false` once the one whose turn
/// it is has gone.
fn in_turn<O>(txs: Vec<Sender<O>>) -> impl FnMut(O) -> bool {
    let mut turn = 0;
    move |o| {
        let ok = txs[turn].send(o).is_ok();
        turn = (turn + 1) % txs.len();
        ok
    }
}

/// Take items from `rxs` in the turn [`in_turn`] dealt them (the `k`-th from `rxs[k mod n]`),
/// until the one whose turn it is has ended.
fn from_each_in_turn<I>(rxs: &[Receiver<I>]) -> impl Iterator<Item = I> + '_ {
    let mut turn = 0;
    std::iter::from_fn(move || {
        let r = rxs[turn].recv().ok();
        turn = (turn + 1) % rxs.len();
        r
    })
}

/// One frame through a stage: apply `f` (timed into `times`; an error sets `abort`), pass what
/// it made on. `false` when the next stage is gone.
fn step<I, O>(job: I, f: &mut impl FnMut(I) -> Result<O>, tx: &mut impl FnMut(O) -> bool, abort: &AtomicBool, times: &mut Vec<f64>) -> Result<bool> {
    let t = Instant::now();
    let out = match f(job) {
        Ok(o) => o,
        Err(e) => {
            abort.store(true, Ordering::Relaxed);
            return Err(e);
        }
    };
    times.push(ms_since(t));
    Ok(tx(out))
}

/// One stage's thread: take from `rx`, apply `f`, pass on to `tx`, until either side closes or
/// `abort` is set (an error sets it). Returns the milliseconds `f` took per item.
fn stage_loop<I, O>(rx: impl Iterator<Item = I>, mut tx: impl FnMut(O) -> bool, abort: &AtomicBool, mut f: impl FnMut(I) -> Result<O>) -> Result<Vec<f64>> {
    let mut times = Vec::new();
    for job in rx {
        if abort.load(Ordering::Relaxed) {
            break;
        }
        if !step(job, &mut f, &mut tx, abort, &mut times)? {
            break;
        }
    }
    Ok(times)
}

/// The one-frame slot of a live source: [`NewestSlot::put`] never waits; a frame still waiting
/// is replaced by the newer one (newest wins).
#[derive(Clone)]
pub struct NewestSlot {
    tx: Sender<Job>,
    rx: Receiver<Job>,
}

/// What [`NewestSlot::put`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    /// Taken; `replaced` frames still waiting were dropped for it.
    Taken { replaced: u64 },
    /// Nobody reads the slot any more.
    Closed,
}

impl Default for NewestSlot {
    fn default() -> Self {
        let (tx, rx) = bounded(1);
        Self { tx, rx }
    }
}

impl NewestSlot {
    /// The receiving end, for [`spawn`].
    pub fn receiver(&self) -> Receiver<Job> {
        self.rx.clone()
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }

    pub fn put(&self, job: Job) -> Put {
        let mut replaced = 0;
        let mut j = Some(job);
        while let Some(job) = j.take() {
            match self.tx.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(job)) => {
                    // The newest frame wins: evict the one still waiting.
                    if self.rx.try_recv().is_ok() {
                        replaced += 1;
                    }
                    j = Some(job);
                }
                Err(TrySendError::Disconnected(_)) => return Put::Closed,
            }
        }
        Put::Taken { replaced }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::focus::{BlurAmount, FocusSpec, Rotation};
    use crate::upsample::PhysicalUpsampler;
    use std::collections::HashSet;
    use std::sync::Mutex;

    /// A lens that passes its picture through after a wait that differs from frame to frame (so
    /// the two lens threads finish out of order), noting which thread ran it; it fails on the
    /// frame whose value is `fail_at`.
    struct Relay {
        threads: Arc<Mutex<HashSet<std::thread::ThreadId>>>,
        fail_at: Option<f32>,
    }

    impl LensBlur for Relay {
        fn name(&self) -> &'static str {
            "relay"
        }

        fn render(&mut self, rgb: &RgbImage, _depth: &Plane, _params: &LensParams) -> Result<RgbImage> {
            self.threads.lock().unwrap().insert(std::thread::current().id());
            let v = rgb.data[0];
            if self.fail_at == Some(v) {
                crate::fail!(Model, "relay failed at {v}");
            }
            std::thread::sleep(std::time::Duration::from_millis(if (v * 100.0).round() as u32 % 2 == 0 { 12 } else { 1 }));
            Ok(rgb.clone())
        }

        fn fork(&self) -> Option<Box<dyn LensBlur>> {
            Some(Box::new(Relay { threads: self.threads.clone(), fail_at: self.fail_at }))
        }
    }

    fn run_frames(lens_threads: usize, fail_at: Option<f32>, frames: u64) -> (Vec<u64>, Result<()>, StageTimes, usize) {
        let threads = Arc::new(Mutex::new(HashSet::new()));
        let stages = Stages {
            depth: DepthStage {
                model: None,
                focus: FocusController::new(FocusSpec::Depth(0.5), BlurAmount::Pixels(4.0), Rotation(0)),
                policy: WorkingPolicy::default(),
                lens_template: LensParams::new(0.5, 0.0),
                display_width: 32,
                stabilizer: None,
            },
            lens: Box::new(Relay { threads: threads.clone(), fail_at }),
            upsampler: Box::new(PhysicalUpsampler::default()),
        };
        let (tx, rx) = bounded(2);
        let feeder = std::thread::spawn(move || {
            for i in 0..frames {
                let mut job = Job::new(i, i as i64, i as f64 / 25.0, RgbImage::from_fn(32, 16, |_, _| [i as f32 / 100.0; 3]));
                job.given_depth = Some(Plane::filled(32, 16, 0.5));
                if tx.send(job).is_err() {
                    break;
                }
            }
        });
        let mut opts = EngineOptions::new(2, Schedule::Bounded, Arc::new(AtomicBool::new(false)));
        opts.lens_threads = lens_threads;
        let (out, running) = spawn(stages, rx, opts);
        let got: Vec<u64> = out.iter().map(|f| {
            assert_eq!(f.output.rgb().data[0], f.index as f32 / 100.0, "frame {} got another frame's picture", f.index);
            f.index
        }).collect();
        feeder.join().unwrap();
        let mut times = StageTimes::default();
        let r = running.join(&mut times);
        let n = threads.lock().unwrap().len();
        (got, r, times, n)
    }

    #[test]
    fn two_lens_threads_keep_frames_in_order() {
        let (got, r, times, threads) = run_frames(2, None, 25);
        r.unwrap();
        assert_eq!(got, (0..25).collect::<Vec<_>>());
        assert_eq!(threads, 2, "both lens threads rendered");
        assert_eq!(times.lens.len(), 25, "every frame's lens time is kept");
    }

    #[test]
    fn a_failing_lens_thread_stops_the_run_and_one_lens_thread_is_one() {
        let (got, r, _, _) = run_frames(2, Some(0.07), 25);
        let e = r.expect_err("the failure is reported");
        let (mut text, mut cur) = (e.to_string(), std::error::Error::source(&e));
        while let Some(c) = cur {
            text += &format!(": {c}");
            cur = c.source();
        }
        assert_eq!(text, "lens stage: relay failed at 0.07");
        assert!(got.len() <= 7 && got.iter().copied().eq(0..got.len() as u64), "frames before the failure only, in order: {got:?}");
        let (got, r, _, threads) = run_frames(1, None, 9);
        r.unwrap();
        assert_eq!((got.len(), threads), (9, 1));
    }
}
