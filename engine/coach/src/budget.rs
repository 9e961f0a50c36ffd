//! Time budget: compress the rest of a plan to fit the minutes an athlete has left.
//!
//! When the athlete says "I have N minutes left" and the remaining plan is longer,
//! [`compress`] decides how many seconds of each remaining step are still ridden. It only
//! shortens or drops steps: it never lengthens a step and never touches a target, so no
//! target is ever raised. The result always fits: `kept_total_s ≤ budget_s` for every input,
//! down to a budget of 0 (everything dropped). If the budget covers the remaining plan,
//! nothing changes.
//!
//! The caller passes the remaining steps already flattened (repeat blocks expanded); the
//! first step may be under way (`done_s > 0`), and its kept seconds count from now.
//!
//! **Invariants**: pure and deterministic (integer seconds, ties broken by position), no
//! I/O, no clock, no allocation beyond a few vectors of the plan's length.
//!
//! # Load
//! Training load is TSS-equivalent, linear in time: a step ridden `s` seconds at intensity
//! factor `i` (fraction of FTP) carries `s / 3600 · i² · 100` (see [`load`]). A second of a
//! step is therefore worth `i²`, its *load density*.
//!
//! # Floors
//! Each step has a floor, the fewest seconds [`compress`] keeps of it while the budget
//! allows (see [`BudgetFloors`]):
//! - warm-up: all warm-up steps together, counting what is done, keep at least
//!   `min(planned warm-up, 300 s)`; the floor is the *first* seconds of the warm-up;
//! - cool-down: likewise `min(planned cool-down, 180 s)`, the first seconds of the cool-down;
//! - each recovery: `max(⌈50 % of planned⌉, min(30 s, planned))`, counting what is done;
//! - work and free steps: 0.
//!
//! Floors give way only when the budget is shorter than their sum (a recovery dropped
//! together with its rep, see below, is gone rather than cut), and then in a fixed order
//! shared by all strategies: recoveries first (by then no work is left for them to
//! separate), then the warm-up, then the cool-down: the cool-down gets its floor first.
//!
//! # Repetitions
//! A *rep* is the unit [`CompressStrategy::KeepIntensity`] drops whole: the work steps of one
//! repetition of a repeat block (same `block` and `rep`), or one work step outside any block,
//! together with the recoveries that belong to it: those between its work steps, the run of
//! recoveries right after it, or, when none follows (the last rep of a block), the run right
//! before it. Reps are dropped last-first within a block, and drops are spread across
//! blocks: the next rep dropped comes from the block with the most reps left (ties: the
//! block whose last rep is later in the plan).
//!
//! # Strategies, on a worked example
//! The sweet-spot plan: warm-up 600 s (intensity 0.625), three 720 s work steps at 0.90 with
//! 240 s recoveries at 0.55 between them, cool-down 360 s (0.55): 3,600 s, 62.2 load. The
//! athlete has 35 minutes (2,100 s), so 1,500 s must go. The floors are warm-up 300 s,
//! cool-down 180 s and 120 s per recovery.
//!
//! - [`CompressStrategy::KeepVolume`] keeps every rep and shortens everything evenly: free
//!   steps first (cheapest first), then all recoveries by the same share of what they have
//!   above their floor, then the warm-up and the cool-down down to their floors, then all
//!   work steps by the same factor (integer seconds shared out by largest remainder, ties to
//!   the earlier step), then, as a last resort, the floors.
//!   Example: recoveries 240 → 120 s, warm-up 600 → 300 s, cool-down 360 → 180 s, and the
//!   work 2,160 → 1,380 s: each rep 720 → 460 s. Kept load 37.8.
//! - [`CompressStrategy::KeepIntensity`] keeps each kept rep at its full length: warm-up and
//!   cool-down down to their floors first, then free steps (cheapest first), then whole reps
//!   with their recoveries, in the drop order above, as long as a rep is no longer than what
//!   is still over. When what is still over is shorter than the next rep, it builds both
//!   ways out and keeps the one with more load (ties: drop, so every kept rep stays whole):
//!   *shorten* (shorten the recoveries that remain evenly towards their floors, then the
//!   rep's last work step: the rep is kept but shorter), or *drop* the rep and give
//!   the seconds it frees beyond what was needed back to steps shortened before (densest
//!   first). Recoveries that remain keep their length unless it is still over. Then, as a
//!   last resort, the floors.
//!   Example: warm-up 300 s and cool-down 180 s leave 1,020 s over; the third rep and the
//!   recovery before it (960 s) go; the last 60 s come out of the first recovery (240 →
//!   180 s), which costs less load than cutting 60 s of work and far less than dropping a
//!   second rep. Kept: two full reps, load 38.7.
//! - [`CompressStrategy::Hybrid`] (the default) maximises kept load. Load is linear in time,
//!   so for a fixed set of steps the best cut removes seconds in ascending order of load
//!   density (fractional knapsack with unit weights): it takes every step down to its floor
//!   cheapest first (ties: the later step first), a work step possibly to 0, then the floors
//!   in the shared order. That greedy alone can lose to keep-intensity: it must keep the
//!   floor of a recovery next to a rep it has emptied, where keep-intensity drops the
//!   recovery with the rep and spends those seconds on work. So hybrid also tries dropping
//!   the first 1, 2, … reps of the drop order whole before the greedy (stopping at the first
//!   count that fits without cutting), and, for each try, a variant where the recoveries of
//!   reps the greedy emptied are dropped and their seconds given back densest first. It
//!   keeps the try with the most load (ties: fewer reps dropped). Keep-volume's result is
//!   one the greedy with no rep dropped may choose, and keep-intensity's one the greedy may
//!   choose after the same reps are dropped, so hybrid keeps at least as much load as both.
//!   Example: the greedy alone cuts the cool-down to 180 s, both recoveries to 120 s, the
//!   warm-up to 300 s and the third rep to 0 and the second to 660 s (load 37.8); dropping
//!   the recovery left before the emptied rep gives 120 s back, to the second rep (660 →
//!   720 s) and the warm-up (300 → 360 s). Kept: warm-up 360 s, two full reps, one 120 s
//!   recovery, cool-down 180 s, load 38.8.

use paceline_schemas::{CompressStrategy, StepIntent};

/// One remaining step of the plan, as the coach hands it to [`compress`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetStep {
    /// What the step is for.
    pub intent: StepIntent,
    /// The step's full planned duration, s.
    pub planned_s: u32,
    /// Time already spent in the step, s: non-zero only for the current (first) step.
    pub done_s: u32,
    /// Intensity factor of the step's target as a fraction of FTP (0.9 = 90 %), ≥ 0. Used
    /// for load only; a negative or non-finite value counts as 0.
    pub intensity: f64,
    /// Where the step sits in its repeat block, for steps that came from one.
    pub repeat: Option<RepeatPosition>,
}

/// The place of a step inside a flattened repeat block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RepeatPosition {
    /// Which repeat block of the plan (distinct per block).
    pub block: u32,
    /// Which repetition of that block, from 0.
    pub rep: u32,
    /// How many repetitions the block has.
    pub reps: u32,
}

/// The least [`compress`] keeps of warm-up, cool-down and recoveries while the budget
/// allows. Counts what has been done already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetFloors {
    /// Warm-up kept in total (all warm-up steps), s, or the whole warm-up if it is shorter.
    pub warmup_min_s: u32,
    /// Cool-down kept in total (all cool-down steps), s, or the whole cool-down if shorter.
    pub cooldown_min_s: u32,
    /// Each recovery keeps at least this percentage of its planned duration (rounded up)…
    pub recovery_min_pct: u32,
    /// …and at least this many seconds, or the whole recovery if it is shorter.
    pub recovery_min_s: u32,
}

impl Default for BudgetFloors {
    /// SPEC §4: warm-up 5 min, cool-down 3 min, recoveries 50 % and 30 s.
    fn default() -> Self {
        Self {
            warmup_min_s: 300,
            cooldown_min_s: 180,
            recovery_min_pct: 50,
            recovery_min_s: 30,
        }
    }
}

/// What [`compress`] keeps of the remaining plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Compression {
    /// One entry per input step: the seconds of it still to ride from now (0 = dropped).
    /// For the current step this is the rest of it, after its `done_s`.
    pub kept_s: Vec<u32>,
    /// The remaining planned time, s (see [`remaining_s`]).
    pub planned_remaining_s: u32,
    /// The sum of `kept_s`.
    pub kept_total_s: u32,
    /// The load of the remaining planned time (see [`load`]).
    pub planned_load: f64,
    /// The load of the kept time.
    pub kept_load: f64,
    /// `kept_total_s ≤ budget_s`: always true, kept so callers need not recompute it.
    pub fits: bool,
}

/// The remaining planned time of `steps`, s: the sum of `planned_s − done_s` (a step done
/// past its plan counts 0). Saturates at `u32::MAX`.
pub fn remaining_s(steps: &[BudgetStep]) -> u32 {
    saturate(steps.iter().map(|s| u64::from(rest_s(s))).sum())
}

/// The TSS-equivalent load of riding `seconds` at `intensity` (fraction of FTP):
/// `seconds / 3600 · intensity² · 100`. A negative or non-finite intensity counts as 0.
pub fn load(seconds: u32, intensity: f64) -> f64 {
    f64::from(seconds) * density(intensity) / 36.0
}

/// Compresses `steps` (the remaining plan, flattened) to fit `budget_s` seconds with
/// `strategy`, keeping the `floors` while the budget allows. See the module docs for what
/// each strategy does. Total: every input gets an answer that fits.
pub fn compress(
    steps: &[BudgetStep],
    budget_s: u32,
    strategy: CompressStrategy,
    floors: &BudgetFloors,
) -> Compression {
    let plan = Plan::new(steps, floors);
    let budget = u64::from(budget_s);
    let kept = if sum(&plan.rest) <= budget {
        plan.rest.clone()
    } else {
        match strategy {
            CompressStrategy::KeepVolume => keep_volume(&plan, budget),
            CompressStrategy::KeepIntensity => keep_intensity(&plan, budget),
            CompressStrategy::Hybrid => hybrid(&plan, budget),
        }
    };
    let kept_total = sum(&kept);
    debug_assert!(kept_total <= budget, "compression must fit the budget");
    Compression {
        planned_remaining_s: saturate(sum(&plan.rest)),
        kept_total_s: saturate(kept_total),
        planned_load: plan.load(&plan.rest),
        kept_load: plan.load(&kept),
        fits: kept_total <= budget,
        kept_s: kept,
    }
}

/// Keep volume: every rep stays, everything shrinks evenly (module docs).
fn keep_volume(plan: &Plan<'_>, budget: u64) -> Vec<u32> {
    let mut kept = plan.rest.clone();
    let mut over = sum(&kept) - budget;
    over = plan.trim(&mut kept, &plan.cheapest_first(StepIntent::Free), over);
    over = plan.trim_evenly(&mut kept, &plan.positions(StepIntent::Recovery), over);
    over = plan.trim(&mut kept, &plan.later_first(StepIntent::Warmup), over);
    over = plan.trim(&mut kept, &plan.later_first(StepIntent::Cooldown), over);
    over = plan.trim_evenly(&mut kept, &plan.positions(StepIntent::Work), over);
    plan.below_floors(&mut kept, over);
    kept
}

/// Keep intensity: whole reps go, kept reps stay whole (module docs).
fn keep_intensity(plan: &Plan<'_>, budget: u64) -> Vec<u32> {
    let mut kept = plan.rest.clone();
    let mut over = sum(&kept) - budget;
    over = plan.trim(&mut kept, &plan.later_first(StepIntent::Warmup), over);
    over = plan.trim(&mut kept, &plan.later_first(StepIntent::Cooldown), over);
    over = plan.trim(&mut kept, &plan.cheapest_first(StepIntent::Free), over);
    let mut dropped = vec![false; kept.len()];
    for rep in &plan.reps {
        if over == 0 {
            break;
        }
        let cost: u64 = rep.steps.iter().map(|&i| u64::from(kept[i])).sum();
        if cost <= over {
            rep.remove(&mut kept, &mut dropped);
            over -= cost;
            continue;
        }
        let shortened = plan.shorten_rep(&kept, rep, over);
        let mut without = kept.clone();
        let mut dropped_without = dropped.clone();
        rep.remove(&mut without, &mut dropped_without);
        plan.refill(&mut without, &dropped_without, cost - over);
        kept = match shortened {
            Some(shortened) if plan.load(&shortened) > plan.load(&without) => shortened,
            _ => without,
        };
        over = 0;
    }
    over = plan.trim_evenly(&mut kept, &plan.positions(StepIntent::Recovery), over);
    plan.below_floors(&mut kept, over);
    kept
}

/// Hybrid: the most load, trying 0, 1, 2, … whole reps dropped first (module docs).
fn hybrid(plan: &Plan<'_>, budget: u64) -> Vec<u32> {
    let everything: Vec<usize> = plan.cheapest_first_where(|_| true);
    let mut dropped = vec![false; plan.rest.len()];
    let mut best: Option<(f64, Vec<u32>)> = None;
    let mut consider = |kept: Vec<u32>| {
        let kept_load = plan.load(&kept);
        if best
            .as_ref()
            .is_none_or(|(best_load, _)| kept_load > *best_load)
        {
            best = Some((kept_load, kept));
        }
    };
    for dropped_reps in 0..=plan.reps.len() {
        let mut kept = plan.rest.clone();
        for rep in &plan.reps[..dropped_reps] {
            rep.remove(&mut kept, &mut dropped);
        }
        let over = sum(&kept).saturating_sub(budget);
        let left = plan.trim(&mut kept, &everything, over);
        plan.below_floors(&mut kept, left);
        if let Some(released) = plan.release_emptied_reps(&kept, &dropped) {
            consider(kept);
            consider(released);
        } else {
            consider(kept);
        }
        if over == 0 {
            break;
        }
    }
    best.map_or_else(|| plan.rest.clone(), |(_, kept)| kept)
}

/// The remaining plan with its floors and reps, and the cutting moves the strategies share.
struct Plan<'a> {
    steps: &'a [BudgetStep],
    /// Remaining planned seconds per step.
    rest: Vec<u32>,
    /// Floor per step, in kept seconds (what is done already counts toward it).
    floor: Vec<u32>,
    /// Load density per step (intensity², 0 for invalid intensities).
    density: Vec<f64>,
    /// Reps in drop order.
    reps: Vec<Rep>,
}

/// One rep: the steps dropped together, work and the recoveries that belong to it.
struct Rep {
    /// The work steps, in plan order.
    work: Vec<usize>,
    /// The work steps and the recoveries claimed for them.
    steps: Vec<usize>,
}

impl Rep {
    /// Drops the rep: its steps keep nothing and are marked `dropped`.
    fn remove(&self, kept: &mut [u32], dropped: &mut [bool]) {
        for &i in &self.steps {
            kept[i] = 0;
            dropped[i] = true;
        }
    }
}

impl<'a> Plan<'a> {
    fn new(steps: &'a [BudgetStep], floors: &BudgetFloors) -> Self {
        Self {
            steps,
            rest: steps.iter().map(rest_s).collect(),
            floor: step_floors(steps, floors),
            density: steps.iter().map(|s| density(s.intensity)).collect(),
            reps: reps_in_drop_order(steps),
        }
    }

    fn load(&self, kept: &[u32]) -> f64 {
        kept.iter()
            .zip(&self.density)
            .map(|(&s, &d)| f64::from(s) * d / 36.0)
            .sum()
    }

    fn positions(&self, intent: StepIntent) -> Vec<usize> {
        (0..self.steps.len())
            .filter(|&i| self.steps[i].intent == intent)
            .collect()
    }

    fn later_first(&self, intent: StepIntent) -> Vec<usize> {
        let mut order = self.positions(intent);
        order.reverse();
        order
    }

    fn cheapest_first(&self, intent: StepIntent) -> Vec<usize> {
        self.cheapest_first_where(|s| s.intent == intent)
    }

    /// Steps matching `keep`, lowest load density first, ties: the later step first.
    fn cheapest_first_where(&self, keep: impl Fn(&BudgetStep) -> bool) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.steps.len())
            .filter(|&i| keep(&self.steps[i]))
            .collect();
        order.sort_by(|&a, &b| self.density[a].total_cmp(&self.density[b]).then(b.cmp(&a)));
        order
    }

    /// Takes up to `over` seconds from the steps in `order`, each down to its floor, in
    /// order. Returns what is still over.
    fn trim(&self, kept: &mut [u32], order: &[usize], mut over: u64) -> u64 {
        for &i in order {
            if over == 0 {
                break;
            }
            let cut = kept[i].saturating_sub(self.floor[i]).min(saturate(over));
            kept[i] -= cut;
            over -= u64::from(cut);
        }
        over
    }

    /// Takes up to `over` seconds from the steps at `positions`, each losing the same share
    /// of what it has above its floor (integer seconds by largest remainder, ties to the
    /// earlier step). Returns what is still over.
    fn trim_evenly(&self, kept: &mut [u32], positions: &[usize], over: u64) -> u64 {
        let slack: Vec<u64> = positions
            .iter()
            .map(|&i| u64::from(kept[i].saturating_sub(self.floor[i])))
            .collect();
        let total: u64 = slack.iter().sum();
        if over >= total {
            for &i in positions {
                kept[i] = kept[i].min(self.floor[i]);
            }
            return over - total;
        }
        let keep_total = u128::from(total - over);
        let mut shares: Vec<(u64, u128)> = slack
            .iter()
            .map(|&s| {
                let exact = u128::from(s) * keep_total;
                let total = u128::from(total);
                (saturate_u128(exact / total), exact % total)
            })
            .collect();
        let handed_out: u64 = shares.iter().map(|&(share, _)| share).sum();
        let mut by_remainder: Vec<usize> = (0..shares.len()).collect();
        by_remainder.sort_by(|&a, &b| shares[b].1.cmp(&shares[a].1).then(a.cmp(&b)));
        let extra = usize::try_from(total - over - handed_out).unwrap_or(usize::MAX);
        for &k in by_remainder.iter().take(extra) {
            shares[k].0 += 1;
        }
        for (k, &i) in positions.iter().enumerate() {
            kept[i] -= saturate(slack[k] - shares[k].0);
        }
        0
    }

    /// Last resort, the same for every strategy: takes `over` seconds below the floors,
    /// from whatever work or free time is left (cheapest first), then recoveries (cheapest
    /// first), then the warm-up, then the cool-down (each from its end). Always fits.
    fn below_floors(&self, kept: &mut [u32], mut over: u64) {
        let order = [
            self.cheapest_first_where(|s| matches!(s.intent, StepIntent::Work | StepIntent::Free)),
            self.cheapest_first(StepIntent::Recovery),
            self.later_first(StepIntent::Warmup),
            self.later_first(StepIntent::Cooldown),
        ];
        for &i in order.iter().flatten() {
            let cut = kept[i].min(saturate(over));
            kept[i] -= cut;
            over -= u64::from(cut);
        }
        debug_assert_eq!(over, 0, "below_floors is only asked for what is kept");
    }

    /// Gives up to `slack` seconds back to steps not `dropped` that were shortened, densest
    /// first (ties: the earlier step first), never past their remaining planned time.
    fn refill(&self, kept: &mut [u32], dropped: &[bool], mut slack: u64) {
        let mut order = self.cheapest_first_where(|_| true);
        order.reverse();
        for i in order {
            if slack == 0 {
                break;
            }
            if dropped[i] {
                continue;
            }
            let add = (self.rest[i] - kept[i]).min(saturate(slack));
            kept[i] += add;
            slack -= u64::from(add);
        }
    }

    /// Keep-intensity's "shorten" way out for `rep` with `over` seconds still to cut: all
    /// recoveries evenly towards their floors, then the rep's work from its last step.
    /// `None` if that would empty the rep's work.
    fn shorten_rep(&self, kept: &[u32], rep: &Rep, over: u64) -> Option<Vec<u32>> {
        let mut shortened = kept.to_vec();
        let over = self.trim_evenly(&mut shortened, &self.positions(StepIntent::Recovery), over);
        let work: u64 = rep.work.iter().map(|&i| u64::from(shortened[i])).sum();
        if over >= work {
            return None;
        }
        let last_first: Vec<usize> = rep.work.iter().rev().copied().collect();
        self.trim(&mut shortened, &last_first, over);
        Some(shortened)
    }

    /// Hybrid's clean-up: the recoveries of reps whose work the greedy emptied are dropped
    /// too and their seconds given back (densest first) to the steps of reps still ridden
    /// and to the rest. `None` if there is no such recovery.
    fn release_emptied_reps(&self, kept: &[u32], dropped: &[bool]) -> Option<Vec<u32>> {
        let mut released = kept.to_vec();
        let mut excluded = dropped.to_vec();
        let mut slack = 0u64;
        for rep in &self.reps {
            let emptied = rep.work.iter().all(|&i| kept[i] == 0);
            let recovery_left = rep.steps.iter().any(|&i| kept[i] > 0);
            if emptied && recovery_left && !dropped[rep.work[0]] {
                for &i in &rep.steps {
                    slack += u64::from(released[i]);
                    released[i] = 0;
                    excluded[i] = true;
                }
            }
        }
        if slack == 0 {
            return None;
        }
        self.refill(&mut released, &excluded, slack);
        Some(released)
    }
}

/// The floor of each step in kept seconds (module docs, "Floors").
fn step_floors(steps: &[BudgetStep], floors: &BudgetFloors) -> Vec<u32> {
    let mut floor = vec![0; steps.len()];
    for (intent, min_s) in [
        (StepIntent::Warmup, floors.warmup_min_s),
        (StepIntent::Cooldown, floors.cooldown_min_s),
    ] {
        let of_intent = move || {
            steps
                .iter()
                .enumerate()
                .filter(move |(_, s)| s.intent == intent)
        };
        let planned: u64 = of_intent().map(|(_, s)| u64::from(s.planned_s)).sum();
        let done: u64 = of_intent().map(|(_, s)| u64::from(done_s(s))).sum();
        let mut need = planned.min(u64::from(min_s)).saturating_sub(done);
        for (i, s) in of_intent() {
            let take = rest_s(s).min(saturate(need));
            floor[i] = take;
            need -= u64::from(take);
        }
    }
    for (i, s) in steps.iter().enumerate() {
        if s.intent == StepIntent::Recovery {
            let share = (u64::from(s.planned_s) * u64::from(floors.recovery_min_pct)).div_ceil(100);
            let total = share
                .max(u64::from(floors.recovery_min_s.min(s.planned_s)))
                .min(u64::from(s.planned_s));
            floor[i] = saturate(total.saturating_sub(u64::from(done_s(s))));
        }
    }
    floor
}

/// Groups the work steps into reps, orders them for dropping and claims their recoveries
/// (module docs, "Repetitions").
fn reps_in_drop_order(steps: &[BudgetStep]) -> Vec<Rep> {
    // Reps and blocks in plan order; a work step outside any block is its own block.
    let mut rep_keys: Vec<Option<(u32, u32)>> = Vec::new();
    let mut reps: Vec<Vec<usize>> = Vec::new();
    let mut blocks: Vec<(Option<u32>, Vec<usize>)> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        if s.intent != StepIntent::Work {
            continue;
        }
        let rep_key = s.repeat.map(|p| (p.block, p.rep));
        if let Some(r) = rep_key.and_then(|k| rep_keys.iter().position(|&key| key == Some(k))) {
            reps[r].push(i);
            continue;
        }
        let r = reps.len();
        reps.push(vec![i]);
        rep_keys.push(rep_key);
        let block_key = s.repeat.map(|p| p.block);
        match block_key.and_then(|k| blocks.iter().position(|(key, _)| *key == Some(k))) {
            Some(b) => blocks[b].1.push(r),
            None => blocks.push((block_key, vec![r])),
        }
    }
    // Drop order: the last rep of the block with the most reps left, ties: the block whose
    // last rep left starts later.
    let mut order = Vec::with_capacity(reps.len());
    while let Some(block) = blocks
        .iter_mut()
        .filter(|(_, left)| !left.is_empty())
        .max_by_key(|(_, left)| (left.len(), left.last().map(|&r| reps[r][0])))
    {
        order.extend(block.1.pop());
    }
    // Claims, in drop order.
    let mut claimed = vec![false; steps.len()];
    let is_recovery = |i: usize| steps[i].intent == StepIntent::Recovery;
    order
        .into_iter()
        .map(|r| {
            let work = std::mem::take(&mut reps[r]);
            let (first, last) = (work[0], work[work.len() - 1]);
            let inside = (first..last).filter(|&i| is_recovery(i));
            let after = (last + 1..steps.len()).take_while(|&i| is_recovery(i));
            let before = (0..first).rev().take_while(|&i| is_recovery(i));
            let mut rep_steps = work.clone();
            rep_steps.extend(inside.filter(|&i| !claimed[i]));
            let after: Vec<usize> = after.filter(|&i| !claimed[i]).collect();
            if after.is_empty() {
                rep_steps.extend(before.filter(|&i| !claimed[i]));
            } else {
                rep_steps.extend(after);
            }
            for &i in &rep_steps {
                claimed[i] = true;
            }
            Rep {
                work,
                steps: rep_steps,
            }
        })
        .collect()
}

fn done_s(step: &BudgetStep) -> u32 {
    step.done_s.min(step.planned_s)
}

fn rest_s(step: &BudgetStep) -> u32 {
    step.planned_s - done_s(step)
}

fn density(intensity: f64) -> f64 {
    if intensity.is_finite() && intensity > 0.0 {
        intensity * intensity
    } else {
        0.0
    }
}

fn sum(kept: &[u32]) -> u64 {
    kept.iter().map(|&s| u64::from(s)).sum()
}

fn saturate(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn saturate_u128(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}
