//! Counting attempts in fixed windows: failed logins per account and per address, and
//! requests per user. In memory (one gateway process); bounded in size.
//!
//! The table never forgets a key that is at its limit: when it is full, expired windows
//! go first, then windows still under their limit; when every window left is at its
//! limit, a new key is refused (fails closed) rather than admitted.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Keys kept at most by [`WindowLimiter::new`].
const MAX_KEYS: usize = 100_000;

struct Window {
    started: Instant,
    count: u32,
}

/// At most `limit` events per key in each `window`.
pub struct WindowLimiter<K> {
    limit: u32,
    window: Duration,
    capacity: usize,
    windows: Mutex<HashMap<K, Window>>,
}

impl<K: Hash + Eq + Clone> WindowLimiter<K> {
    /// A limiter of `limit` events per `window`, keeping at most 100,000 keys.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self::with_capacity(limit, window, MAX_KEYS)
    }

    /// A limiter of `limit` events per `window`, keeping at most `capacity` keys.
    pub fn with_capacity(limit: u32, window: Duration, capacity: usize) -> Self {
        WindowLimiter {
            limit,
            window,
            capacity: capacity.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The table; a panic elsewhere while it was held leaves counts that are still
    /// counts, so a poisoned lock is used all the same (never failing open).
    fn table(&self) -> MutexGuard<'_, HashMap<K, Window>> {
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Err(retry_after)` when the key has used up its window, else `Ok`.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let windows = self.table();
        match windows.get(key) {
            Some(w) if w.started.elapsed() < self.window && w.count >= self.limit => {
                Err(self.window.saturating_sub(w.started.elapsed()))
            }
            _ => Ok(()),
        }
    }

    /// Counts one event, deciding and counting under one lock: `Err(retry_after)` if the
    /// key is at its limit (the event is not counted), or if the table is full of keys at
    /// their limit.
    pub fn hit(&self, key: &K) -> Result<(), Duration> {
        let mut windows = self.table();
        if windows.len() >= self.capacity && !windows.contains_key(key) {
            let (window, limit) = (self.window, self.limit);
            windows.retain(|_, w| w.started.elapsed() < window);
            if windows.len() >= self.capacity {
                windows.retain(|_, w| w.count >= limit);
            }
            if windows.len() >= self.capacity {
                let soonest = windows
                    .values()
                    .map(|w| window.saturating_sub(w.started.elapsed()))
                    .min()
                    .unwrap_or(window);
                return Err(soonest.max(Duration::from_secs(1)));
            }
        }
        let now = Instant::now();
        let w = windows.entry(key.clone()).or_insert(Window {
            started: now,
            count: 0,
        });
        if w.started.elapsed() >= self.window {
            *w = Window {
                started: now,
                count: 0,
            };
        }
        if w.count >= self.limit {
            return Err(self.window.saturating_sub(w.started.elapsed()));
        }
        w.count += 1;
        Ok(())
    }

    /// Forgets the key (a successful login clears its failures).
    pub fn clear(&self, key: &K) {
        self.table().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_per_key_and_clears() {
        let limiter = WindowLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(limiter.check(&"a").is_ok());
            assert!(limiter.hit(&"a").is_ok());
        }
        assert!(limiter.check(&"a").is_err());
        assert!(limiter.hit(&"a").is_err());
        assert!(limiter.check(&"b").is_ok());
        limiter.clear(&"a");
        assert!(limiter.check(&"a").is_ok());
    }

    #[test]
    fn a_window_ends() {
        let limiter = WindowLimiter::new(1, Duration::from_millis(1));
        assert!(limiter.hit(&1).is_ok());
        let start = Instant::now();
        while limiter.hit(&1).is_err() {
            assert!(start.elapsed() < Duration::from_secs(5));
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_full_table_keeps_its_lockouts_and_refuses_rather_than_admits() {
        let limiter = WindowLimiter::with_capacity(2, Duration::from_secs(600), 3);
        let hit = |key: &str| limiter.hit(&key.to_owned()).is_ok();
        let locked = |key: &str| limiter.check(&key.to_owned()).is_err();
        // Two keys locked, one under its limit.
        for key in ["locked-a", "locked-b"] {
            assert!(hit(key) && hit(key) && !hit(key));
        }
        assert!(hit("open"));
        // A new key evicts the window under its limit, never a lockout.
        assert!(hit("new-1"));
        assert!(locked("locked-a") && locked("locked-b"));
        // Full of lockouts (`new-1` locks too): a newcomer is refused, and the lockouts
        // hold however many newcomers try.
        assert!(hit("new-1"));
        for i in 0..10 {
            assert!(!hit(&format!("spray-{i}")), "newcomer {i} admitted");
        }
        assert!(!hit("locked-a") && !hit("locked-b") && !hit("new-1"));
        // Clearing one makes room again.
        limiter.clear(&"new-1".to_owned());
        assert!(hit("spray-0"));
        assert!(locked("locked-a"));
    }

    #[test]
    fn expired_windows_make_room_first() {
        let limiter = WindowLimiter::with_capacity(1, Duration::from_millis(1), 1);
        assert!(limiter.hit(&1).is_ok());
        let start = Instant::now();
        while limiter.hit(&2).is_err() {
            assert!(start.elapsed() < Duration::from_secs(5));
            std::thread::yield_now();
        }
        assert!(limiter.check(&2).is_err());
    }
}
