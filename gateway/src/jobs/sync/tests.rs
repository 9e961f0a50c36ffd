//! The job runner and its rows against a real SQLite store.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use paceline_sync::jobs::{self, Job, Outcome};
use paceline_sync::oauth::{Secret, TokenSet};
use paceline_sync::strava::ActivityPager;
use paceline_sync::{Provider, SyncSettings};
use rusqlite::params;

use super::*;
use crate::store::{Store, StoreError, ensure_athlete, ensure_tenant, prepare_data_dir};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    tenants: [i64; 2],
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    prepare_data_dir(dir.path()).unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let tenants = store
        .write(|tx| -> Result<[i64; 2], StoreError> {
            let mut rows = [0; 2];
            for (i, slug) in ["gym", "other"].into_iter().enumerate() {
                let tenant = paceline_schemas::TenantId::new(slug.to_owned()).unwrap();
                rows[i] = ensure_tenant(tx, &tenant, 1)?;
                ensure_athlete(tx, rows[i], "Ana", None, 1)?;
            }
            Ok(rows)
        })
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        tenants,
    }
}

fn sync_job(connection_id: i64) -> Job {
    Job::SyncActivities {
        connection_id,
        pager: ActivityPager::backfill(1_000_000, 90),
    }
}

fn enqueue(f: &Fixture, tenant: i64, job: &Job, run_at_s: i64) -> (i64, bool) {
    f.store
        .write(|tx| rows::enqueue_job(tx, tenant, job, run_at_s, 1))
        .unwrap()
}

fn job(f: &Fixture, tenant: i64, id: i64) -> rows::JobRow {
    f.store
        .read(|c| rows::tenant_job(c, tenant, id))
        .unwrap()
        .unwrap()
}

#[test]
fn a_waiting_job_swallows_its_duplicates_but_not_a_running_ones() {
    let f = fixture();
    let [gym, other] = f.tenants;
    let (first, added) = enqueue(&f, gym, &sync_job(7), 100);
    assert!(added);
    assert_eq!(enqueue(&f, gym, &sync_job(7), 100), (first, false));
    // Another tenant's job with the same key is its own.
    let (theirs, added) = enqueue(&f, other, &sync_job(7), 100);
    assert!(added && theirs != first);
    // Once a worker has it, new work for the key is queued behind it.
    assert!(
        f.store
            .write(|tx| rows::claim_job(tx, gym, first, 2))
            .unwrap()
    );
    assert!(
        !f.store
            .write(|tx| rows::claim_job(tx, gym, first, 2))
            .unwrap()
    );
    let (second, added) = enqueue(&f, gym, &sync_job(7), 100);
    assert!(added && second != first);
    let row = job(&f, gym, first);
    assert_eq!((row.state.as_str(), row.attempts), ("running", 1));
    assert_eq!(Job::from_payload(&row.payload).unwrap(), sync_job(7));
}

#[test]
fn failures_back_off_then_die_and_the_admin_retries_within_the_tenant() {
    let f = fixture();
    let [gym, other] = f.tenants;
    let (id, _) = enqueue(&f, gym, &sync_job(1), 100);
    let mut now_s = 100;
    for attempt in 1..=jobs::MAX_ATTEMPTS {
        let due = f
            .store
            .read(|c| rows::due_jobs(c, Provider::Strava, now_s, 4))
            .unwrap();
        assert_eq!(
            due.iter().map(|j| j.id).collect::<Vec<_>>(),
            [id],
            "{attempt}"
        );
        assert!(f.store.write(|tx| rows::claim_job(tx, gym, id, 2)).unwrap());
        let transition = jobs::next_state(
            attempt,
            &Outcome::Transient("503".to_owned()),
            now_s,
            random_u64(),
        );
        f.store
            .write(|tx| rows::finish_job(tx, gym, id, &transition, Some("503"), 3))
            .unwrap();
        let row = job(&f, gym, id);
        assert_eq!(row.attempts, attempt);
        if attempt < jobs::MAX_ATTEMPTS {
            assert_eq!(row.state, "retry");
            let ceiling = (2_i64 << (attempt - 1)).min(600);
            assert!(
                (now_s..=now_s + ceiling).contains(&row.run_at_s),
                "{attempt}: {}",
                row.run_at_s
            );
            now_s = row.run_at_s;
        } else {
            assert_eq!(row.state, "dead");
            assert_eq!(row.last_error.as_deref(), Some("503"));
        }
    }
    assert!(
        f.store
            .read(|c| rows::due_jobs(c, Provider::Strava, i64::MAX, 4))
            .unwrap()
            .is_empty()
    );
    let dead = |tenant| {
        f.store
            .read(|c| rows::tenant_jobs(c, tenant, Some("dead"), 10))
            .unwrap()
            .len()
    };
    assert_eq!((dead(gym), dead(other)), (1, 0));
    // The other tenant cannot retry it; its own admin can.
    assert!(
        !f.store
            .write(|tx| rows::retry_job(tx, other, id, 500, 4))
            .unwrap()
    );
    assert!(
        f.store
            .write(|tx| rows::retry_job(tx, gym, id, 500, 4))
            .unwrap()
    );
    let row = job(&f, gym, id);
    assert_eq!(
        (row.state.as_str(), row.attempts, row.run_at_s),
        ("queued", 0, 500)
    );
    assert!(
        !f.store
            .write(|tx| rows::retry_job(tx, gym, id, 500, 4))
            .unwrap()
    );
}

#[test]
fn a_pause_spends_no_attempt_and_needs_reauth_is_dead_at_once() {
    let f = fixture();
    let [gym, _] = f.tenants;
    let (id, _) = enqueue(&f, gym, &sync_job(1), 100);
    assert!(f.store.write(|tx| rows::claim_job(tx, gym, id, 2)).unwrap());
    let paused = jobs::next_state(1, &Outcome::Paused { until_s: 900 }, 100, 0);
    f.store
        .write(|tx| rows::finish_job(tx, gym, id, &paused, None, 3))
        .unwrap();
    let row = job(&f, gym, id);
    assert_eq!(
        (row.state.as_str(), row.attempts, row.run_at_s),
        ("retry", 0, 900)
    );
    assert!(f.store.write(|tx| rows::claim_job(tx, gym, id, 4)).unwrap());
    let refused = jobs::next_state(1, &Outcome::NeedsReauth("invalid_grant".to_owned()), 900, 0);
    f.store
        .write(|tx| rows::finish_job(tx, gym, id, &refused, None, 5))
        .unwrap();
    let row = job(&f, gym, id);
    assert_eq!(row.state, "dead");
    assert!(row.last_error.unwrap().starts_with("needs_reauth"));
}

#[test]
fn jobs_a_killed_gateway_left_running_run_again_at_start() {
    let f = fixture();
    let [gym, other] = f.tenants;
    let (fresh, _) = enqueue(&f, gym, &sync_job(1), 100);
    let (last, _) = enqueue(&f, other, &sync_job(2), 100);
    let (waiting, _) = enqueue(&f, gym, &sync_job(3), 100);
    assert!(
        f.store
            .write(|tx| rows::claim_job(tx, gym, fresh, 2))
            .unwrap()
    );
    f.store
        .write(|tx| -> Result<(), StoreError> {
            tx.execute(
                "UPDATE sync_jobs SET state = 'running', attempts = 5 WHERE tenant_id = ?1 AND id = ?2",
                params![other, last],
            )?;
            Ok(())
        })
        .unwrap();
    assert_eq!(recover(&f.store, 200, 5).unwrap(), 2);
    let row = job(&f, gym, fresh);
    assert_eq!(
        (row.state.as_str(), row.attempts, row.run_at_s),
        ("retry", 1, 200)
    );
    assert_eq!(job(&f, other, last).state, "dead");
    assert_eq!(job(&f, gym, waiting).state, "queued");
    assert_eq!(recover(&f.store, 300, 6).unwrap(), 0);
}

#[test]
fn tokens_are_sealed_under_their_connection_name() {
    let f = fixture();
    let tokens = TokenSet {
        access_token: Secret::new("access-very-secret"),
        refresh_token: Secret::new("refresh-very-secret"),
        expires_at_s: 10,
        provider_user_id: Some("1".to_owned()),
        scope: None,
    };
    let name = rows::tokens_seal_name(1, 2, Provider::Strava);
    let sealed = seal_tokens(&f.store, &name, &tokens).unwrap();
    let text = String::from_utf8_lossy(&sealed);
    assert!(!text.contains("very-secret"));
    let (access, refresh) = open_tokens(&f.store, &name, &sealed).unwrap();
    assert_eq!(
        (access.expose(), refresh.expose()),
        ("access-very-secret", "refresh-very-secret")
    );
    let elsewhere = rows::tokens_seal_name(1, 3, Provider::Strava);
    assert!(open_tokens(&f.store, &elsewhere, &sealed).is_err());
}

/// The runner itself: a job whose connection does not exist fails permanently (dead at
/// once, without retries), a job with an unreadable payload too, and a job due later
/// waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_takes_due_jobs_and_stores_their_outcomes() {
    let f = fixture();
    let [gym, _] = f.tenants;
    let settings = SyncSettings::from_lookup(|name| {
        match name {
            "PACELINE_PUBLIC_URL" => Some("http://paceline.test"),
            "PACELINE_STRAVA_CLIENT_ID" => Some("client"),
            "PACELINE_STRAVA_CLIENT_SECRET" => Some("secret"),
            "PACELINE_STRAVA_VERIFY_TOKEN" => Some("verify"),
            "PACELINE_STRAVA_BASE_URL" => Some("http://127.0.0.1:9"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap();
    let clock = crate::clock::GatewayClock::start();
    let now_s = crate::store::to_i64(clock.now_ms() / 1000);
    let (missing, _) = enqueue(&f, gym, &sync_job(999), now_s);
    let (later, _) = enqueue(&f, gym, &sync_job(998), now_s + 3600);
    let (garbled, _) = enqueue(&f, gym, &sync_job(997), now_s);
    f.store
        .write(|tx| -> Result<(), StoreError> {
            tx.execute(
                "UPDATE sync_jobs SET payload = '{\"kind\":\"nonsense\"}' WHERE id = ?1",
                params![garbled],
            )?;
            Ok(())
        })
        .unwrap();
    let sync = ProviderSync::new(
        settings,
        crate::outbound::Outbound::new(true).unwrap(),
        Arc::clone(&f.store),
        clock,
    );
    let running = Arc::new(AtomicBool::new(true));
    let runner = tokio::spawn(run(Arc::clone(&sync), Arc::clone(&running)));
    sync.wake();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let states = [job(&f, gym, missing).state, job(&f, gym, garbled).state];
        if states == ["dead", "dead"] {
            break;
        }
        assert!(Instant::now() < deadline, "jobs still {states:?}");
        // Polling the condition, not waiting for time to pass.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row = job(&f, gym, missing);
    assert_eq!(row.attempts, 1);
    assert!(row.last_error.unwrap().contains("deleted"));
    assert!(
        job(&f, gym, garbled)
            .last_error
            .unwrap()
            .contains("not a job")
    );
    assert_eq!(job(&f, gym, later).state, "queued");
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    sync.wake();
    tokio::time::timeout(Duration::from_secs(5), runner)
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn finished_jobs_are_pruned_after_their_days_and_dead_ones_stay() {
    let f = fixture();
    let [gym, other] = f.tenants;
    let day_ms: u64 = 86_400_000;
    let finish = |tenant: i64, id: i64, state: JobState, at_ms: u64| {
        f.store
            .write(|tx| {
                rows::finish_job(
                    tx,
                    tenant,
                    id,
                    &jobs::Transition { state, attempts: 1 },
                    None,
                    at_ms,
                )
            })
            .unwrap();
    };
    let (old_done, _) = enqueue(&f, gym, &sync_job(1), 100);
    let (new_done, _) = enqueue(&f, gym, &sync_job(2), 100);
    let (old_dead, _) = enqueue(&f, other, &sync_job(3), 100);
    let (waiting, _) = enqueue(&f, other, &sync_job(4), 100);
    let now_ms = 100 * day_ms;
    finish(gym, old_done, JobState::Done, now_ms - 8 * day_ms);
    finish(gym, new_done, JobState::Done, now_ms - 6 * day_ms);
    finish(
        other,
        old_dead,
        JobState::Dead {
            last_error: "x".to_owned(),
        },
        now_ms - 30 * day_ms,
    );
    assert_eq!(prune(&f.store, now_ms, 7).unwrap(), 1);
    let left = |tenant: i64| {
        f.store
            .read(|c| rows::tenant_jobs(c, tenant, None, 10))
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(left(gym), vec![new_done]);
    assert_eq!(left(other), vec![waiting, old_dead]);
    // A second pass finds nothing more.
    assert_eq!(prune(&f.store, now_ms, 7).unwrap(), 0);
}
