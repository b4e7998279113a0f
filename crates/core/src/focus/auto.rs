//! Autofocus: find the subject in the depth map without being told, and keep it while it moves.
//!
//! Each frame the depth map is reduced to at most 64 pixels on its long side and cut into regions
//! of similar depth (region growing: a neighbour joins when it is within 0.03 of the pixel it
//! comes from and within 0.05 of the region's mean, so smooth slopes do not run together).
//! Regions of at least 2 % of the picture are scored by how much of a centre-weighted window
//! they cover (a Gaussian of σ = 0.25 of the picture) times `(0.2 + depth)²`, times 0.3 for
//! regions cut by the left, right or top edge, so the nearest large region near the centre wins.
//! The subject of the last frame is found again as the best region that overlaps its last pixels
//! at a depth within 0.12 of its last; it keeps the focus unless another region outscores it by
//! half for half a second. The reading is the median depth of the subject's region.
//!
//! When the depth model gives a foreground map (its segmentation head: people, animals, the
//! salient object), the candidates are the foreground regions instead: the map, reduced the same
//! way, is cut at probability 0.5 into connected regions of at least 0.8 % of the picture, each
//! scored as above times its mean probability, its depth the median over its surer half (the
//! pixels of highest probability, so a soft edge bleeding onto the floor does not pull it). The
//! floor in front of a player is then no candidate at all. Without a foreground region large
//! enough, the depth rule above is used. Following, stickiness and switching are the same.

use super::{depth_at, RelPoint};
use crate::frame::Plane;

const MAX_SIDE: usize = 64;
const STEP_TOL: f32 = 0.03;
const MEAN_TOL: f32 = 0.05;
const MIN_AREA: f32 = 0.02;
const CENTRE_SIGMA: f32 = 0.25;
/// Score factor of regions cut by the left, right or top edge (framing, background); the
/// bottom edge is spared, as it cuts people.
const EDGE_FACTOR: f32 = 0.3;
const STICKINESS: f32 = 1.5;
const SWITCH_AFTER: f64 = 0.5;
/// How far the subject's depth may change between frames while it stays itself.
const MATCH_DEPTH: f32 = 0.12;
/// Foreground probability at which a pixel belongs to a foreground region.
const FG_THRESHOLD: f32 = 0.5;
/// The smallest foreground region that can be the subject (share of the picture).
const FG_MIN_AREA: f32 = 0.008;
/// Distance (relative) within which a challenger counts as the same one from frame to frame,
/// and within which the subject is found again when the map changes size.
const MATCH_PLACE: f32 = 0.2;

/// The chosen subject: its centroid in relative coordinates of the stored picture, its median
/// depth and its share of the picture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Subject {
    pub centre: RelPoint,
    pub depth: f32,
    pub area: f32,
}

/// Picks and follows the subject, frame by frame.
#[derive(Clone, Debug, Default)]
pub struct Autofocus {
    subject: Option<Subject>,
    /// The subject's pixels in the reduced map, and that map's size.
    mask: Vec<bool>,
    mask_size: (usize, usize),
    /// A region that has outscored the subject, and since when.
    challenger: Option<(Subject, f64)>,
}

impl Autofocus {
    pub fn new() -> Self {
        Self::default()
    }

    /// The subject followed now.
    pub fn subject(&self) -> Option<Subject> {
        self.subject
    }

    /// The raw focal depth of the subject in this frame (to be smoothed by the caller).
    pub fn read(&mut self, t: f64, depth: &Plane) -> f32 {
        self.read_with(t, depth, None)
    }

    /// [`read`](Self::read) with the model's foreground probability map (any size), when it has
    /// one: the subject is then chosen among the foreground regions.
    pub fn read_with(&mut self, t: f64, depth: &Plane, foreground: Option<&Plane>) -> f32 {
        let small = reduce(depth);
        let seg = foreground.and_then(|fg| segment_foreground(&small, fg)).unwrap_or_else(|| segment(&small));
        let Some(best) = seg.regions.iter().max_by(|a, b| a.score.total_cmp(&b.score)) else {
            self.subject = None;
            self.challenger = None;
            self.mask.clear();
            return depth_at(depth, RelPoint { x: 0.5, y: 0.5 });
        };
        // The subject is itself again in the best-scoring region that overlaps where it was, at
        // a depth near its last one.
        let matched = self.subject.and_then(|s| {
            seg.regions
                .iter()
                .filter(|r| (r.subject.depth - s.depth).abs() < MATCH_DEPTH && self.continues(&seg, r, &s))
                .max_by(|a, b| a.score.total_cmp(&b.score))
        });
        let chosen = match matched {
            None => {
                self.challenger = None;
                best
            }
            Some(m) if best.score <= m.score * STICKINESS || best.id == m.id => {
                self.challenger = None;
                m
            }
            Some(m) => {
                // Another region outscores the subject; switch only if it keeps doing so.
                let since = match self.challenger {
                    Some((c, since))
                        if place_distance(c.centre, best.subject.centre) < MATCH_PLACE
                            && (c.depth - best.subject.depth).abs() < MATCH_DEPTH =>
                    {
                        since
                    }
                    _ => t,
                };
                if t - since >= SWITCH_AFTER {
                    self.challenger = None;
                    best
                } else {
                    self.challenger = Some((best.subject, since));
                    m
                }
            }
        };
        self.subject = Some(chosen.subject);
        self.mask = seg.label.iter().map(|&l| l == chosen.id).collect();
        self.mask_size = (seg.width, seg.height);
        chosen.subject.depth
    }

    /// Whether region `r` overlaps the subject's last pixels (by a fifth of the smaller of the
    /// two), or, where the map changed size, lies near its last centre.
    fn continues(&self, seg: &Segmentation, r: &Region, s: &Subject) -> bool {
        if self.mask_size != (seg.width, seg.height) {
            return place_distance(r.subject.centre, s.centre) < MATCH_PLACE;
        }
        let shared = seg.label.iter().zip(&self.mask).filter(|(l, m)| **m && **l == r.id).count();
        let before = self.mask.iter().filter(|m| **m).count();
        shared * 5 >= r.size.min(before).max(1)
    }
}

fn place_distance(a: RelPoint, b: RelPoint) -> f32 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

#[derive(Clone, Copy, Debug)]
struct Region {
    id: usize,
    /// Pixels in the reduced map.
    size: usize,
    subject: Subject,
    score: f32,
}

/// The reduced depth map cut into regions; `label` holds each pixel's region id.
struct Segmentation {
    width: usize,
    height: usize,
    label: Vec<usize>,
    /// The candidates (regions of at least `MIN_AREA`).
    regions: Vec<Region>,
}

/// The depth map reduced to at most `MAX_SIDE` on its long side.
fn reduce(depth: &Plane) -> Plane {
    let scale = MAX_SIDE as f32 / depth.width.max(depth.height) as f32;
    if scale < 1.0 {
        let w = ((depth.width as f32 * scale).round() as usize).max(1);
        let h = ((depth.height as f32 * scale).round() as usize).max(1);
        depth.resize(w, h)
    } else {
        depth.clone()
    }
}

/// The centre weighting of a `w`×`h` map and its total.
struct CentreWeight {
    w: usize,
    h: usize,
    total: f32,
}

impl CentreWeight {
    fn new(w: usize, h: usize) -> Self {
        let mut c = Self { w, h, total: 0.0 };
        c.total = (0..w * h).map(|i| c.at(i)).sum();
        c
    }

    fn at(&self, i: usize) -> f32 {
        let dx = (( i % self.w) as f32 + 0.5) / self.w as f32 - 0.5;
        let dy = ((i / self.w) as f32 + 0.5) / self.h as f32 - 0.5;
        (-(dx * dx + dy * dy) / (2.0 * CENTRE_SIGMA * CENTRE_SIGMA)).exp()
    }

    /// A candidate region of pixels `members` at depth `depth`: its subject and its score
    /// before any other factor.
    fn region(&self, id: usize, members: &[usize], depth: f32) -> Region {
        let (w, h) = (self.w, self.h);
        let (mut cx, mut cy, mut cw) = (0.0f32, 0.0f32, 0.0f32);
        let mut at_edge = false;
        for &i in members {
            let (x, y) = (i % w, i / w);
            at_edge |= x == 0 || x + 1 == w || y == 0;
            cx += x as f32;
            cy += y as f32;
            cw += self.at(i);
        }
        let n = members.len() as f32;
        let centre = RelPoint { x: (cx / n + 0.5) / w as f32, y: (cy / n + 0.5) / h as f32 };
        let edge = if at_edge { EDGE_FACTOR } else { 1.0 };
        let score = cw / self.total * (0.2 + depth).powi(2) * edge;
        Region { id, size: members.len(), subject: Subject { centre, depth, area: n / (w * h) as f32 }, score }
    }
}

fn median(values: &mut [f32]) -> f32 {
    let mid = values.len() / 2;
    *values.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1
}

/// Regions of similar depth in the reduced map.
fn segment(small: &Plane) -> Segmentation {
    let (w, h) = (small.width, small.height);
    let weight = CentreWeight::new(w, h);
    let mut label = vec![usize::MAX; w * h];
    let mut regions = Vec::new();
    let mut members = Vec::new();
    for start in 0..w * h {
        if label[start] != usize::MAX {
            continue;
        }
        let id = start;
        flood(start, (w, h), &small.data, &mut label, &mut members, |d, dj, mean| (dj - d).abs() < STEP_TOL && (dj - mean).abs() < MEAN_TOL);
        if (members.len() as f32 / (w * h) as f32) < MIN_AREA {
            continue;
        }
        let mut values: Vec<f32> = members.iter().map(|&i| small.data[i]).collect();
        regions.push(weight.region(id, &members, median(&mut values)));
    }
    Segmentation { width: w, height: h, label, regions }
}

/// Grow the region of `start` (its id) over 4-neighbours not yet labelled: `j` joins from `i`
/// when `joins(value[i], value[j], mean value of the region so far)`. Fills `members`.
fn flood(start: usize, (w, h): (usize, usize), value: &[f32], label: &mut [usize], members: &mut Vec<usize>, joins: impl Fn(f32, f32, f32) -> bool) {
    label[start] = start;
    let mut stack = vec![start];
    members.clear();
    let mut sum = 0.0f32;
    while let Some(i) = stack.pop() {
        members.push(i);
        sum += value[i];
        let mean = sum / members.len() as f32;
        for j in neighbours(i, w, h) {
            if label[j] == usize::MAX && joins(value[i], value[j], mean) {
                label[j] = start;
                stack.push(j);
            }
        }
    }
}

fn neighbours(i: usize, w: usize, h: usize) -> impl Iterator<Item = usize> {
    let (x, y) = (i % w, i / w);
    [(x > 0).then(|| i - 1), (x + 1 < w).then(|| i + 1), (y > 0).then(|| i - w), (y + 1 < h).then(|| i + w)].into_iter().flatten()
}

/// Connected foreground regions (probability ≥ `FG_THRESHOLD`, at least `FG_MIN_AREA`) of the
/// reduced map, scored with depth and centre; `None` when there is none.
fn segment_foreground(small: &Plane, fg: &Plane) -> Option<Segmentation> {
    let (w, h) = (small.width, small.height);
    let fg = if (fg.width, fg.height) == (w, h) { fg.clone() } else { fg.resize(w, h) };
    let weight = CentreWeight::new(w, h);
    let mut label = vec![usize::MAX; w * h];
    let mut regions = Vec::new();
    let mut members = Vec::new();
    for start in 0..w * h {
        if label[start] != usize::MAX || !(fg.data[start] >= FG_THRESHOLD) {
            continue;
        }
        flood(start, (w, h), &fg.data, &mut label, &mut members, |_, p, _| p >= FG_THRESHOLD);
        if (members.len() as f32 / (w * h) as f32) < FG_MIN_AREA {
            continue;
        }
        // The depth of the surer half of the region.
        members.sort_by(|a, b| fg.data[*b].total_cmp(&fg.data[*a]));
        let mut core: Vec<f32> = members[..members.len().div_ceil(2)].iter().map(|&i| small.data[i]).collect();
        let mean_p = members.iter().map(|&i| fg.data[i]).sum::<f32>() / members.len() as f32;
        let mut r = weight.region(start, &members, median(&mut core));
        r.score *= mean_p;
        regions.push(r);
    }
    (!regions.is_empty()).then_some(Segmentation { width: w, height: h, label, regions })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A far wall, a floor sloping nearer toward the bottom, a subject off centre and a small
    /// near object in a corner.
    fn scene(subject_x: f32, subject_depth: f32) -> Plane {
        Plane::from_fn(160, 90, |x, y| {
            let (u, v) = (x as f32 / 160.0, y as f32 / 90.0);
            if (u - 0.92).abs() < 0.04 && (v - 0.1).abs() < 0.06 {
                0.97
            } else if (u - subject_x).abs() < 0.1 && (v - 0.5).abs() < 0.3 {
                subject_depth
            } else if v > 0.75 {
                0.3 + (v - 0.75) * 1.2
            } else {
                0.15
            }
        })
    }

    #[test]
    fn finds_the_subject_not_the_small_near_thing() {
        let mut af = Autofocus::new();
        let d = af.read(0.0, &scene(0.4, 0.65));
        assert!((d - 0.65).abs() < 1e-6, "{d}");
        let s = af.subject().unwrap();
        assert!((s.centre.x - 0.4).abs() < 0.05, "{s:?}");
    }

    #[test]
    fn keeps_the_subject_as_it_moves() {
        let mut af = Autofocus::new();
        for i in 0..60 {
            let x = 0.3 + 0.4 * i as f32 / 59.0;
            let d = af.read(i as f64 / 30.0, &scene(x, 0.6));
            assert!((d - 0.6).abs() < 1e-6, "frame {i}: {d}");
        }
    }

    /// A tennis court: far wall, a floor nearest at the bottom across the whole width, and a
    /// person mid-frame at a middle depth, marked by the foreground map (soft, with noise).
    fn court(person_x: f32) -> (Plane, Plane) {
        let person = move |u: f32, v: f32| (u - person_x).abs() < 0.06 && (v - 0.45).abs() < 0.25;
        let depth = Plane::from_fn(160, 90, move |x, y| {
            let (u, v) = (x as f32 / 160.0, y as f32 / 90.0);
            if person(u, v) {
                0.55
            } else if v > 0.5 {
                0.85 + (v - 0.5) * 0.2
            } else {
                0.1
            }
        });
        let fg = Plane::from_fn(160, 90, move |x, y| {
            let (u, v) = (x as f32 / 160.0, y as f32 / 90.0);
            if person(u, v) {
                0.9
            } else if (u - 0.1).abs() < 0.01 && (v - 0.9).abs() < 0.01 {
                0.8 // a speck: below the area minimum
            } else {
                0.2
            }
        });
        (depth, fg)
    }

    #[test]
    fn the_foreground_subject_wins_over_the_nearer_floor() {
        let (depth, fg) = court(0.5);
        // Without a foreground map a band of the nearer floor wins.
        let mut plain = Autofocus::new();
        let d = plain.read(0.0, &depth);
        assert!(d > 0.6, "{d}");
        let mut af = Autofocus::new();
        let d = af.read_with(0.0, &depth, Some(&fg));
        assert!((d - 0.55).abs() < 1e-6, "{d}");
        let s = af.subject().unwrap();
        assert!((s.centre.x - 0.5).abs() < 0.05 && (s.centre.y - 0.45).abs() < 0.08, "{s:?}");
    }

    #[test]
    fn follows_the_foreground_subject_and_falls_back_without_one() {
        let mut af = Autofocus::new();
        for i in 0..45 {
            let (depth, fg) = court(0.3 + 0.4 * i as f32 / 44.0);
            let d = af.read_with(i as f64 / 30.0, &depth, Some(&fg));
            assert!((d - 0.55).abs() < 1e-6, "frame {i}: {d}");
        }
        // A map with nothing above the threshold: the depth rule.
        let (depth, _) = court(0.5);
        let empty = Plane::from_fn(160, 90, |_, _| 0.3);
        let mut fresh = Autofocus::new();
        assert_eq!(fresh.read_with(0.0, &depth, Some(&empty)), Autofocus::new().read(0.0, &depth));
    }
}
