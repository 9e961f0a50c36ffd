//! Accounts and tokens against a real gateway: the first administrator, wrong passwords
//! and unknown accounts, tampered / `alg:none` / wrong-audience / expired tokens, refresh
//! rotation with reuse revocation, logout, lockout and the per-address limit.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use paceline_gateway::accounts::tokens::SIGNING_KEY_NAME;
use paceline_gateway::store::secrets::ServerKey;
use serde_json::{Value, json};

use paceline_testkit::api::*;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_writes_a_one_time_admin_password_to_an_owner_only_file_that_logs_in() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut gateway = paceline().start().await;
    let api = Api::of(&gateway);
    // The banner follows readiness by a moment; it names the file, not the password.
    let out = wait_until(
        "the banner naming the password file",
        DEADLINE,
        async || {
            let out = gateway.stdout();
            out.contains("password file").then_some(out)
        },
    )
    .await;
    let file = gateway.data_dir.join("admin-password.txt");
    assert!(out.contains(&file.display().to_string()), "{out}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert_eq!(password.len(), 20, "{password}");
    assert!(!out.contains(&password), "the password is printed:\n{out}");
    assert!(
        !gateway.log_tail(1).contains(&password),
        "the password is logged"
    );
    assert!(out.contains("admin@paceline.local"), "{out}");
    let reply = api.login("admin@paceline.local", &password).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["user"]["role"], "gym-admin");
    assert_eq!(reply.json["tenant"]["slug"], "default");
    // Stored only as an Argon2id hash.
    let hash: String = gateway
        .db()
        .query_row("SELECT password_hash FROM users", [], |r| r.get(0))
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(&password));
    // A restart makes no new admin and prints no password.
    gateway.restart().await;
    let again = wait_until("the second banner", DEADLINE, async || {
        let again = gateway.stdout();
        (again.matches("Paceline gateway running").count() == 2).then_some(again)
    })
    .await;
    assert_eq!(
        again.matches("password file").count(),
        out.matches("password file").count()
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        password,
        "a restart rewrote the file"
    );
    let users: i64 = gateway
        .db()
        .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_and_an_unknown_account_answer_alike_and_cost_alike() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    api.register_gym("owner@riverside.example", "Riverside")
        .await;
    let checks_before = gateway
        .counter("paceline_login_password_checks_total", "")
        .await;
    let wrong = api
        .login("owner@riverside.example", "not the password at all")
        .await;
    let unknown = api
        .login("nobody@riverside.example", "not the password at all")
        .await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.json, unknown.json, "the same error for both");
    assert_eq!(code(&wrong), "invalid_credentials");
    // Both ran one Argon2id verification (the unknown account against a dummy hash): the
    // same work, so the same time class.
    let checks_after = gateway
        .counter("paceline_login_password_checks_total", "")
        .await;
    assert_eq!(checks_after - checks_before, 2.0);
    // The right password works; the email is case-insensitive.
    let ok = api.login("Owner@Riverside.example", PASSWORD).await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    // Registering the same email again is refused.
    let dup = api
        .post(
            "/auth/register",
            None,
            json!({"email": "owner@riverside.example", "password": PASSWORD, "name": "X", "tenant": "Other"}),
        )
        .await;
    assert_eq!((dup.status, code(&dup)), (409, "email_taken"));
    // A weak password is refused with a reason.
    let weak = api
        .post(
            "/auth/register",
            None,
            json!({"email": "new@x.example", "password": "short", "name": "X", "tenant": "Short"}),
        )
        .await;
    assert_eq!((weak.status, code(&weak)), (400, "weak_password"));
}

fn sign_with(dir: &std::path::Path, claims: &Value) -> String {
    // The test has the data folder, so it can read the signing key the way the gateway
    // does: sealed in the database under the server key.
    let server_key = ServerKey::load_or_create(dir).unwrap();
    let conn = rusqlite::Connection::open(dir.join("paceline.db")).unwrap();
    let sealed: Vec<u8> = conn
        .query_row(
            "SELECT sealed FROM server_secrets WHERE name = ?1",
            [SIGNING_KEY_NAME],
            |r| r.get(0),
        )
        .unwrap();
    let secret = server_key.open_secret(SIGNING_KEY_NAME, &sealed).unwrap();
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_alg_none_wrong_audience_and_expired_tokens_are_refused() {
    let gateway = paceline()
        .args(&["--access-token-ttl-s", "2"])
        .start()
        .await;
    let api = Api::of(&gateway);
    let pair = api.register_gym("owner@tokens.example", "Tokens").await;
    let token = access(&pair);
    assert_eq!(api.get("/auth/me", &token).await.status, 200);

    let no_token = api.call(reqwest::Method::GET, "/auth/me", None, None).await;
    assert_eq!((no_token.status, code(&no_token)), (401, "unauthenticated"));

    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    // Tampered: a higher role in the payload, the old signature.
    let mut forged = claims.clone();
    forged["sub"] = json!("999");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    let reply = api.get("/auth/me", &tampered).await;
    assert_eq!((reply.status, code(&reply)), (401, "invalid_token"));
    // alg: none, unsigned.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let reply = api.get("/auth/me", &none).await;
    assert_eq!((reply.status, code(&reply)), (401, "invalid_token"));
    // Signed with the real key, but for another audience or issuer.
    claims["aud"] = json!("another-service");
    let reply = api
        .get("/auth/me", &sign_with(&gateway.data_dir, &claims))
        .await;
    assert_eq!((reply.status, code(&reply)), (401, "invalid_token"));
    claims["aud"] = json!("paceline-api");
    claims["iss"] = json!("someone-else");
    let reply = api
        .get("/auth/me", &sign_with(&gateway.data_dir, &claims))
        .await;
    assert_eq!((reply.status, code(&reply)), (401, "invalid_token"));
    // The same key and claims as the server's own verify (so the refusals above were
    // about the audience and issuer, not the test's signing).
    claims["iss"] = json!("paceline");
    let reply = api
        .get("/auth/me", &sign_with(&gateway.data_dir, &claims))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);

    // Expired: the token lives 2 s here.
    let expired = wait_until("the access token to expire", DEADLINE, async || {
        let reply = api.get("/auth/me", &token).await;
        if reply.status == 401 {
            Ok(code(&reply).to_owned())
        } else {
            Err(format!("/auth/me answers {}", reply.status))
        }
    })
    .await;
    assert_eq!(expired, "token_expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_login() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let first = api.register_gym("owner@refresh.example", "Refresh").await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let second = api
        .post("/auth/refresh", None, json!({"refresh_token": r1}))
        .await;
    assert_eq!(second.status, 200, "{}", second.json);
    let r2 = second.json["refresh_token"].as_str().unwrap().to_owned();
    let a2 = access(&second.json);
    assert_ne!(r1, r2);
    assert_eq!(api.get("/auth/me", &a2).await.status, 200);
    // A second login is a separate family and survives the first one's revocation.
    let other = api.login("owner@refresh.example", PASSWORD).await;
    assert_eq!(other.status, 200);

    // r1 again: someone copied it. The family dies: r2 and its access token too.
    let reuse = api
        .post("/auth/refresh", None, json!({"refresh_token": r1}))
        .await;
    assert_eq!((reuse.status, code(&reuse)), (401, "refresh_token_reused"));
    let after = api
        .post("/auth/refresh", None, json!({"refresh_token": r2}))
        .await;
    assert_eq!((after.status, code(&after)), (401, "invalid_refresh_token"));
    let me = api.get("/auth/me", &a2).await;
    assert_eq!((me.status, code(&me)), (401, "session_revoked"));
    assert_eq!(api.get("/auth/me", &access(&other.json)).await.status, 200);
    // The reuse is in the audit log.
    let audit = api.get("/audit", &access(&other.json)).await;
    assert!(
        audit.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "auth.refresh_reuse_detected"),
        "{}",
        audit.json
    );
    // An unknown token.
    let unknown = api
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": "plr_nonsense"}),
        )
        .await;
    assert_eq!(
        (unknown.status, code(&unknown)),
        (401, "invalid_refresh_token")
    );

    // Logout ends the other login: its access and refresh tokens stop working.
    let other_access = access(&other.json);
    let out = api
        .call(
            reqwest::Method::POST,
            "/auth/logout",
            Some(&other_access),
            None,
        )
        .await;
    assert_eq!(out.status, 204);
    assert_eq!(api.get("/auth/me", &other_access).await.status, 401);
    let refresh_after_logout = api
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": other.json["refresh_token"]}),
        )
        .await;
    assert_eq!(refresh_after_logout.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_lock_the_account_and_an_address_is_rate_limited() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    api.register_gym("owner@lock.example", "Lock").await;
    for _ in 0..5 {
        let reply = api.login("owner@lock.example", "wrong password here").await;
        assert_eq!(reply.status, 401);
    }
    // Locked: even the right password waits.
    let locked = api.login("owner@lock.example", PASSWORD).await;
    assert_eq!((locked.status, code(&locked)), (429, "account_locked"));
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900, "retry after {retry} s");
    // Another account is not locked.
    api.register_gym("other@lock.example", "Lock Two").await;
    assert_eq!(api.login("other@lock.example", PASSWORD).await.status, 200);
    // The address: 30 attempts a minute, whatever the account (7 used so far).
    let mut limited = None;
    for i in 0..40 {
        let reply = api
            .login(&format!("spray{i}@lock.example"), "guess guess guess")
            .await;
        if reply.status == 429 {
            limited = Some((i, code(&reply).to_owned()));
            break;
        }
        assert_eq!(reply.status, 401);
    }
    let (at, why) = limited.expect("the address is limited");
    assert_eq!(why, "rate_limited");
    assert_eq!(at, 23, "30 attempts per minute from one address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_passwords_cannot_race_past_the_lockout() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    api.register_gym("owner@race.example", "Race").await;
    let checks_before = gateway
        .counter("paceline_login_password_checks_total", "")
        .await;
    // The limit (5) and five more, all at once.
    let shared = std::sync::Arc::new(Api::of(&gateway));
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let api = shared.clone();
        attempts.spawn(async move { api.login("owner@race.example", "wrong password here").await });
    }
    let replies = attempts.join_all().await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    let refused = replies
        .iter()
        .filter(|r| r.status == 429 && code(r) == "account_locked")
        .count();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(refused, 5, "{statuses:?}");
    // Only the limit's worth of guesses reached Argon2.
    let checks_after = gateway
        .counter("paceline_login_password_checks_total", "")
        .await;
    assert_eq!(checks_after - checks_before, 5.0);
    let locked = api.login("owner@race.example", PASSWORD).await;
    assert_eq!((locked.status, code(&locked)), (429, "account_locked"));
}

/// Unknown-account logins, each claiming `X-Forwarded-For: forwarded(i)`, until one is
/// refused for its address; the number answered before that, or `None` within `tries`.
async fn logins_until_address_limited(
    gateway: &Gateway,
    tries: usize,
    forwarded: impl Fn(usize) -> String,
) -> Option<usize> {
    let client = reqwest::Client::new();
    for i in 0..tries {
        let reply = client
            .post(format!("http://{}/api/v1/auth/login", gateway.http))
            .header("x-forwarded-for", forwarded(i))
            .json(
                &json!({"email": format!("spray{i}@xff.example"), "password": "guess guess guess"}),
            )
            .send()
            .await
            .unwrap();
        match reply.status().as_u16() {
            401 => {}
            429 => return Some(i),
            other => panic!("login {i}: status {other}"),
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_from_a_trusted_proxy_and_ipv6_by_its_64() {
    // No trusted proxy (the default): the header is ignored, the peer is limited.
    let plain = paceline().start().await;
    let spoofed = logins_until_address_limited(&plain, 40, |i| format!("198.51.100.{i}")).await;
    assert_eq!(
        spoofed,
        Some(30),
        "a forged X-Forwarded-For escaped the limit"
    );
    drop(plain);
    // Behind a trusted proxy (loopback here), each forwarded client has its own count…
    let config = tempfile::tempdir().unwrap();
    let path = config.path().join("paceline.toml");
    std::fs::write(&path, "trusted_proxies = [\"127.0.0.1/32\"]\n").unwrap();
    let proxied = paceline()
        .args(&["--config", path.to_str().unwrap()])
        .start()
        .await;
    let distinct = logins_until_address_limited(&proxied, 40, |i| format!("198.51.100.{i}")).await;
    assert_eq!(distinct, None, "distinct forwarded clients share a limit");
    // …and IPv6 clients of one /64 share one, whatever their last 64 bits.
    let one_64 =
        logins_until_address_limited(&proxied, 40, |i| format!("6.6.6.6, 2001:db8:0:7::{i:x}"))
            .await;
    assert_eq!(one_64, Some(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_limited_per_address_and_checked_before_hashing() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    // Thirty attempts an hour from one address, counted valid or not; the malformed ones
    // are refused by the cheap checks (email, name, password length) before Argon2.
    for i in 0..30 {
        let body = match i % 3 {
            0 => json!({"email": "no-at-sign", "password": PASSWORD, "name": "X", "tenant": "T"}),
            1 => {
                json!({"email": format!("r{i}@reg.example"), "password": "short", "name": "X", "tenant": "T"})
            }
            _ => {
                json!({"email": format!("r{i}@reg.example"), "password": PASSWORD, "name": "", "tenant": "T"})
            }
        };
        let reply = api.post("/auth/register", None, body).await;
        assert_eq!(reply.status, 400, "attempt {i}: {}", reply.json);
    }
    let limited = api
        .post(
            "/auth/register",
            None,
            json!({"email": "fresh@reg.example", "password": PASSWORD, "name": "Fresh", "tenant": "Fresh Gym"}),
        )
        .await;
    assert_eq!((limited.status, code(&limited)), (429, "rate_limited"));
    assert!(limited.headers.contains_key("retry-after"));
    let users: i64 = gateway
        .db()
        .query_row(
            "SELECT COUNT(*) FROM users WHERE email LIKE '%@reg.example'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(users, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_checks_the_old_one_and_ends_every_login() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let first = api.register_gym("owner@change.example", "Change").await;
    let second = api.login("owner@change.example", PASSWORD).await.json;
    let token = access(&first);
    let new_password = "a brand new passphrase";
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let wrong = api
        .post(
            "/me/password",
            Some(&token),
            change("not the password", new_password),
        )
        .await;
    assert_eq!((wrong.status, code(&wrong)), (401, "invalid_credentials"));
    let weak = api
        .post("/me/password", Some(&token), change(PASSWORD, "short"))
        .await;
    assert_eq!((weak.status, code(&weak)), (400, "weak_password"));
    let anonymous = api
        .post("/me/password", None, change(PASSWORD, new_password))
        .await;
    assert_eq!(anonymous.status, 401);
    let changed = api
        .post("/me/password", Some(&token), change(PASSWORD, new_password))
        .await;
    assert_eq!(changed.status, 204, "{}", changed.json);
    // Both logins ended: their access and refresh tokens are refused.
    for pair in [&first, &second] {
        assert_eq!(api.get("/auth/me", &access(pair)).await.status, 401);
        let refreshed = api
            .post(
                "/auth/refresh",
                None,
                json!({"refresh_token": pair["refresh_token"]}),
            )
            .await;
        assert_eq!(refreshed.status, 401, "{}", refreshed.json);
    }
    assert_eq!(
        api.login("owner@change.example", PASSWORD).await.status,
        401
    );
    let admin = api.access_token("owner@change.example", new_password).await;
    let audit = api.get("/audit", &admin).await;
    assert!(
        audit.json.to_string().contains("user.password_changed"),
        "{}",
        audit.json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gym_admin_resets_a_password_to_a_temporary_one_shown_once() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("owner@reset.example", "Reset").await);
    let coach_pair = api
        .invite_and_register(&admin, "coach", "coach@reset.example", None)
        .await;
    let coach = access(&coach_pair);
    let coach_id = coach_pair["user"]["id"].as_i64().unwrap();
    let admin_id = api.get("/auth/me", &admin).await.json["user"]["id"]
        .as_i64()
        .unwrap();
    // Only a gym-admin, and not for their own account.
    let by_coach = api
        .call(
            reqwest::Method::POST,
            &format!("/users/{admin_id}/password-reset"),
            Some(&coach),
            None,
        )
        .await;
    assert_eq!(by_coach.status, 403, "{}", by_coach.json);
    let own = api
        .call(
            reqwest::Method::POST,
            &format!("/users/{admin_id}/password-reset"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((own.status, code(&own)), (400, "own_account"));
    let reset = api
        .call(
            reqwest::Method::POST,
            &format!("/users/{coach_id}/password-reset"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.json);
    let temporary = reset.json["temporary_password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(temporary.len(), 20);
    let expires = reset.json["expires_ms"].as_u64().unwrap();
    let in_a_day = now_ms() + 24 * 3600 * 1000;
    assert!(
        expires <= in_a_day && expires + 60_000 > in_a_day,
        "{expires}"
    );
    // The coach's logins ended; the old password no longer works, the temporary one does.
    assert_eq!(api.get("/auth/me", &coach).await.status, 401);
    assert_eq!(api.login("coach@reset.example", PASSWORD).await.status, 401);
    let fresh = api.access_token("coach@reset.example", &temporary).await;
    // Changing it makes it the coach's own again (it no longer expires).
    let changed = api
        .post(
            "/me/password",
            Some(&fresh),
            json!({"current_password": temporary, "new_password": "the coach's own phrase"}),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.json);
    let expiry: Option<i64> = gateway
        .db()
        .query_row(
            "SELECT password_expires_ms FROM users WHERE id = ?1",
            [coach_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(expiry, None);
    // Audited, without the password.
    let audit = api.get("/audit", &admin).await.json.to_string();
    assert!(audit.contains("user.password_reset"), "{audit}");
    assert!(!audit.contains(&temporary), "{audit}");
}
