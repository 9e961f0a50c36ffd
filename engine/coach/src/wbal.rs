//! W′ balance: how much of the work capacity above critical power is left.
//!
//! The differential model of Skiba, Fulford, Clarke, Vanhatalo & Jones, "Intramuscular
//! determinants of the ability to recover work capacity above critical power", Eur J Appl
//! Physiol 115 (2015) 703–713, as SPEC §4 states it, with `W` the balance, `W′₀` the full
//! capacity, `P` the power and `CP` the critical power:
//!
//! - at or above CP, `dW/dt = −(P − CP)`: the balance falls linearly;
//! - below CP, `dW/dt = (CP − P) · (W′₀ − W) / W′₀`: it recovers toward `W′₀`, faster the
//!   further below CP and the emptier it is.
//!
//! Recovery is integrated with explicit Euler steps of at most 1 s, so a 10 s step equals
//! ten 1 s steps (and not one 10 s Euler step, which would overshoot). Depletion is linear,
//! so it is integrated exactly in one step. The balance never exceeds `W′₀`; it is not
//! clamped at 0: a negative balance means CP or W′ is underestimated, and callers treat a
//! balance ≤ 0 as empty.

/// The longest recovery integrated in one [`WPrimeBalance::step`], s: one day, far longer
/// than any W′ needs to refill, and a bound on the work one call can do.
const MAX_RECOVERY_STEP_S: f64 = 86_400.0;

/// The W′ balance of one athlete over one session.
#[derive(Debug, Clone, PartialEq)]
pub struct WPrimeBalance {
    cp_w: f64,
    w_prime_j: f64,
    balance_j: f64,
    min_j: f64,
}

impl WPrimeBalance {
    /// A full balance for an athlete with critical power `cp_w` and capacity `w_prime_j`
    /// (a [`Physiology`](crate::zones::Physiology) provides both, valid).
    ///
    /// # Panics
    /// If `cp_w` is negative or not finite, or `w_prime_j` is not finite and above 0.
    pub fn new(cp_w: f64, w_prime_j: f64) -> Self {
        assert!(
            cp_w.is_finite() && cp_w >= 0.0,
            "critical power must be finite and non-negative, got {cp_w} W"
        );
        assert!(
            w_prime_j.is_finite() && w_prime_j > 0.0,
            "W′ must be finite and positive, got {w_prime_j} J"
        );
        Self {
            cp_w,
            w_prime_j,
            balance_j: w_prime_j,
            min_j: w_prime_j,
        }
    }

    /// Advances the balance by `dt_s` seconds at a constant `power_w`.
    ///
    /// Recovery (below CP) runs in sub-steps of at most 1 s, and at most one day per call;
    /// it stops early once the balance no longer changes. A power or a duration that is
    /// negative, NaN or infinite, or a zero duration, is ignored: the balance is unchanged.
    pub fn step(&mut self, power_w: f64, dt_s: f64) {
        let valid = power_w.is_finite() && power_w >= 0.0 && dt_s.is_finite() && dt_s > 0.0;
        if !valid {
            return;
        }
        if power_w >= self.cp_w {
            self.balance_j -= (power_w - self.cp_w) * dt_s;
        } else {
            let below_cp_w = self.cp_w - power_w;
            let mut left_s = dt_s.min(MAX_RECOVERY_STEP_S);
            while left_s > 0.0 {
                let h_s = left_s.min(1.0);
                let recovered_j =
                    below_cp_w * (self.w_prime_j - self.balance_j) / self.w_prime_j * h_s;
                let next_j = (self.balance_j + recovered_j).min(self.w_prime_j);
                if next_j == self.balance_j {
                    // Full, or the step is below the resolution of f64: later (equal or
                    // shorter) sub-steps cannot change it either.
                    break;
                }
                self.balance_j = next_j;
                left_s -= h_s;
            }
        }
        self.min_j = self.min_j.min(self.balance_j);
    }

    /// The balance now, J (≤ W′₀; may be negative).
    pub fn balance_j(&self) -> f64 {
        self.balance_j
    }

    /// The balance as a share of W′₀ (1 = full, ≤ 0 = empty).
    pub fn fraction(&self) -> f64 {
        self.balance_j / self.w_prime_j
    }

    /// The lowest balance so far, J (W′₀ before any depletion).
    pub fn min_j(&self) -> f64 {
        self.min_j
    }

    /// The full capacity W′₀, J.
    pub fn w_prime_j(&self) -> f64 {
        self.w_prime_j
    }
}
