//! Counting attempts in fixed windows: failed logins per account and per address, and
//! requests per user. In memory (one gateway process); bounded in size.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept at most; beyond this, expired windows are dropped, and if none has expired
/// the oldest are.
const MAX_KEYS: usize = 100_000;

struct Window {
    started: Instant,
    count: u32,
}

/// At most `limit` events per key in each `window`.
pub struct WindowLimiter<K> {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<K, Window>>,
}

impl<K: Hash + Eq + Clone> WindowLimiter<K> {
    /// A limiter of `limit` events per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        WindowLimiter {
            limit,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when the key has used up its window, else `Ok`.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Ok(windows) = self.windows.lock() else {
            return Ok(());
        };
        match windows.get(key) {
            Some(w) if w.started.elapsed() < self.window && w.count >= self.limit => {
                Err(self.window.saturating_sub(w.started.elapsed()))
            }
            _ => Ok(()),
        }
    }

    /// Counts one event; `Err(retry_after)` if it went over the limit.
    pub fn hit(&self, key: &K) -> Result<(), Duration> {
        let Ok(mut windows) = self.windows.lock() else {
            return Ok(());
        };
        if windows.len() >= MAX_KEYS && !windows.contains_key(key) {
            let window = self.window;
            windows.retain(|_, w| w.started.elapsed() < window);
            if windows.len() >= MAX_KEYS {
                windows.clear();
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
        if let Ok(mut windows) = self.windows.lock() {
            windows.remove(key);
        }
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
}
