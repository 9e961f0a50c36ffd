//! The live WebSockets: the token never in the URL (400 `token_in_url`), a header or
//! the first message authenticates (nothing sent before, 1008 otherwise); another
//! tenant's board gets nothing; access is re-checked: a disabled user's, a logged-out
//! login's and an unlinked coach's sockets close (1008, with a reason) or stop carrying
//! the athlete; a user has at most 8 live sockets; an oversized incoming message ends the
//! socket.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::*;
use paceline_testkit::api::*;

/// How long a revocation may take to close a socket, with slack for a loaded machine.
const CLOSE_WITHIN: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_coach_and_a_logged_out_login_lose_their_live_sockets() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@live.example", "Gym Live").await);
    let coach_pair = api
        .invite_and_register(&admin, "coach", "coach@live.example", None)
        .await;
    let coach = access(&coach_pair);
    let coach_id = coach_pair["user"]["id"].as_i64().unwrap();
    let other = access(
        &api.invite_and_register(&admin, "coach", "other@live.example", None)
            .await,
    );

    let mut board = api.live("/live/board", &coach).await;
    board
        .wait_for("the coach's hello", |m| m["type"] == "hello")
        .await;
    // A socket authenticated by its first message (as the web UI does) is re-checked
    // alike.
    let mut browser_board = api
        .try_live_first_message("/live/board", &coach)
        .await
        .unwrap();
    browser_board
        .wait_for("the coach's other hello", |m| m["type"] == "hello")
        .await;
    let mut bystander = api.live("/live/board", &other).await;
    bystander
        .wait_for("the other coach's hello", |m| m["type"] == "hello")
        .await;

    let disabled = api
        .call(
            Method::PATCH,
            &format!("/users/{coach_id}"),
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.json);
    let closed = board
        .wait_closed("the disabled coach's board to close", CLOSE_WITHIN)
        .await;
    let (code, reason) = closed.expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("revoked"), "{reason}");
    let (code, reason) = browser_board
        .wait_closed("the disabled coach's other board to close", CLOSE_WITHIN)
        .await
        .expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("revoked"), "{reason}");

    // The other coach's board stays open; their logout closes it.
    let logout = api
        .call(Method::POST, "/auth/logout", Some(&other), None)
        .await;
    assert_eq!(logout.status, 204, "{}", logout.json);
    let (code, reason) = bystander
        .wait_closed("the logged-out coach's board to close", CLOSE_WITHIN)
        .await
        .expect("a close frame");
    assert_eq!(code, 1008, "{reason}");

    // A revoked token opens no new socket.
    let refused = api.try_live("/live/board", &coach).await.err();
    assert_eq!(refused.map(|(status, _)| status), Some(401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlinked_coach_stops_receiving_the_athletes_session() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@unlink.example", "Gym Unlink").await);
    let athlete = api.create_athlete(&admin, "Ana").await;
    let creds = api.pair(&admin, athlete).await;
    let coach_pair = api
        .invite_and_register(&admin, "coach", "coach@unlink.example", None)
        .await;
    let coach = access(&coach_pair);
    let coach_id = coach_pair["user"]["id"].as_i64().unwrap();
    let link = format!("/athletes/{athlete}/coaches/{coach_id}");
    let linked = api.call(Method::PUT, &link, Some(&admin), None).await;
    assert!(linked.status < 300, "{}", linked.json);

    let mut admin_board = api.live("/live/board", &admin).await;
    let mut coach_board = api.live("/live/board", &coach).await;
    let device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("unlink");
    let ride = ride_mqtt(&device, &session, 1, 20, |_| 150);
    let watch = async {
        let status = coach_board
            .wait_for("the coach's board to show Ana", |m| {
                m["type"] == "sample" && m["athlete_id"] == athlete
            })
            .await;
        let session_row = status["session_id"].as_i64().unwrap();
        let mut stream = api
            .live(&format!("/live/sessions/{session_row}"), &coach)
            .await;
        stream
            .wait_for("the coach's session stream", |m| m["type"] == "sample")
            .await;

        let unlinked = api.call(Method::DELETE, &link, Some(&admin), None).await;
        assert_eq!(unlinked.status, 204, "{}", unlinked.json);
        let (code, reason) = stream
            .wait_closed("the unlinked coach's session stream to close", CLOSE_WITHIN)
            .await
            .expect("a close frame");
        assert_eq!(code, 1008, "{reason}");

        // The board stays open but carries nothing more of Ana, while she still rides.
        coach_board.drain_for(Duration::from_secs(1)).await;
        coach_board.seen.clear();
        admin_board.seen.clear();
        let window = Duration::from_secs(2);
        tokio::join!(coach_board.drain_for(window), admin_board.drain_for(window));
        assert!(
            admin_board
                .seen
                .iter()
                .any(|m| m["type"] == "sample" && m["athlete_id"] == athlete),
            "Ana stopped riding before the check: {:?}",
            admin_board.seen
        );
        assert!(
            coach_board.seen.iter().all(|m| m["athlete_id"] != athlete),
            "the unlinked coach still gets Ana: {:?}",
            coach_board.seen
        );
    };
    tokio::select! {
        _ = ride => panic!("the ride ended before the checks"),
        () = watch => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sockets_are_capped_per_user_and_in_message_size() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@cap.example", "Gym Cap").await);
    let mut open = Vec::new();
    for _ in 0..8 {
        let mut board = api.live("/live/board", &admin).await;
        board
            .wait_for("a board's hello", |m| m["type"] == "hello")
            .await;
        open.push(board);
    }
    let (status, body) = api
        .try_live("/live/board", &admin)
        .await
        .err()
        .expect("the ninth live socket is refused");
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_live_sockets", "{body}");

    // An incoming message over 4 KiB ends the socket; a small one does not.
    let board = &mut open[0];
    assert!(board.send_text(100).await);
    let mut big = open.pop().unwrap();
    let _ = big.send_text(64 * 1024).await;
    big.wait_closed("the oversized message to end the socket", CLOSE_WITHIN)
        .await;
    // Its slot is given back: a new socket opens.
    paceline_testkit::wait_until(
        "a freed live-socket slot",
        paceline_testkit::DEADLINE,
        async || api.try_live("/live/board", &admin).await.is_ok(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_socket_closes_when_its_access_token_expires() {
    let gateway = paceline()
        .args(&["--access-token-ttl-s", "4"])
        .start()
        .await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@exp.example", "Gym Exp").await);
    let mut board = api.live("/live/board", &admin).await;
    let mut browser_board = api
        .try_live_first_message("/live/board", &admin)
        .await
        .unwrap();
    for board in [&mut board, &mut browser_board] {
        board
            .wait_for("the board's hello", |m| m["type"] == "hello")
            .await;
    }
    for board in [&mut board, &mut browser_board] {
        let (code, reason) = board
            .wait_closed(
                "the board to close at the token's expiry",
                Duration::from_secs(15),
            )
            .await
            .expect("a close frame");
        assert_eq!(code, 1008, "{reason}");
        assert!(reason.contains("expired"), "{reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_url_is_refused_before_the_upgrade() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@url.example", "Gym Url").await);
    let in_url = [
        format!("/live/board?access_token={admin}"),
        format!("/live/board?rate_hz=2&access_token={admin}"),
        format!("/live/board?access%5Ftoken={admin}"),
        format!("/live/sessions/1?access_token={admin}"),
    ];
    for path in &in_url {
        for header in [None, Some(admin.as_str())] {
            let (status, body) = api
                .open_live(path, header)
                .await
                .err()
                .unwrap_or_else(|| panic!("{path} (header {header:?}) opened a socket"));
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(body["error"]["code"], "token_in_url", "{path}: {body}");
        }
    }
    // A plain request is refused the same way.
    let plain = api.call(Method::GET, &in_url[0], None, None).await;
    assert_eq!((plain.status, code(&plain)), (400, "token_in_url"));
    // Without it the same token opens a socket, in a header or in the first message.
    let mut header = api.live("/live/board", &admin).await;
    header.wait_for("a hello", |m| m["type"] == "hello").await;
    let mut first = api
        .try_live_first_message("/live/board", &admin)
        .await
        .expect("a socket without a header upgrades");
    first.wait_for("a hello", |m| m["type"] == "hello").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_authenticated_by_its_first_message_gets_hello_and_live_samples() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@first.example", "Gym First").await);
    let athlete = api.create_athlete(&admin, "Ana").await;
    let creds = api.pair(&admin, athlete).await;
    let coach_pair = api
        .invite_and_register(&admin, "coach", "coach@first.example", None)
        .await;
    let coach = access(&coach_pair);
    let coach_id = coach_pair["user"]["id"].as_i64().unwrap();
    let link = format!("/athletes/{athlete}/coaches/{coach_id}");
    let linked = api.call(Method::PUT, &link, Some(&admin), None).await;
    assert!(linked.status < 300, "{}", linked.json);
    let stranger = access(
        &api.invite_and_register(&admin, "coach", "stranger@first.example", None)
            .await,
    );

    let mut board = api
        .try_live_first_message("/live/board", &coach)
        .await
        .expect("the board upgrades");
    let device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("first-message");
    let ride = ride_mqtt(&device, &session, 1, 20, |_| 150);
    let watch = async {
        let hello = board
            .wait_for("the board's hello", |m| m["type"] == "hello")
            .await;
        assert_eq!(board.seen[0], hello, "the hello comes first");
        let sample = board
            .wait_for("Ana's samples on the board", |m| {
                m["type"] == "sample" && m["athlete_id"] == athlete
            })
            .await;
        assert_eq!(sample["heart_rate"], 150, "{sample}");
        let session_row = sample["session_id"].as_i64().unwrap();
        let path = format!("/live/sessions/{session_row}");
        let mut stream = api
            .try_live_first_message(&path, &coach)
            .await
            .expect("the session stream upgrades");
        let hello = stream
            .wait_for("the stream's hello", |m| m["type"] == "hello")
            .await;
        assert_eq!(hello["sessions"][0]["session_id"], session_row, "{hello}");
        stream
            .wait_for("the stream's samples", |m| {
                m["type"] == "sample" && m["session_id"] == session_row
            })
            .await;

        // A coach not linked to Ana: closed with 1008 ("not visible"), sent nothing.
        let mut refused = api
            .try_live_first_message(&path, &stranger)
            .await
            .expect("the upgrade itself is not refused");
        let (code, reason) = refused
            .wait_closed("the stranger's stream to close", CLOSE_WITHIN)
            .await
            .expect("a close frame");
        assert_eq!(code, 1008, "{reason}");
        assert!(reason.contains("not visible"), "{reason}");
        assert!(refused.seen.is_empty(), "{:?}", refused.seen);
    };
    tokio::select! {
        _ = ride => panic!("the ride ended before the checks"),
        () = watch => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_without_a_valid_first_auth_message_is_closed_with_1008_and_sent_nothing() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@noauth.example", "Gym NoAuth").await);
    let closed = async |mut live: paceline_testkit::api::Live, within: Duration| {
        let close = live.wait_closed("the socket to close", within).await;
        assert!(live.seen.is_empty(), "sent before auth: {:?}", live.seen);
        close.expect("a close frame")
    };

    // Silence: closed at 5 s.
    let started = tokio::time::Instant::now();
    let silent = api
        .open_live("/live/board", None)
        .await
        .expect("a socket without a header upgrades");
    let (code, reason) = closed(silent, Duration::from_secs(5) + CLOSE_WITHIN).await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("timed out"), "{reason}");
    assert!(started.elapsed() >= Duration::from_millis(4500));

    // A bad token, an expired-looking one, a first message of another kind.
    let bad = api
        .try_live_first_message("/live/board", "not-a-token")
        .await
        .unwrap();
    let (code, reason) = closed(bad, CLOSE_WITHIN).await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("invalid or expired token"), "{reason}");
    let mut other = api.open_live("/live/board", None).await.unwrap();
    other.send_json(&json!({"type": "hello"})).await;
    let (code, reason) = closed(other, CLOSE_WITHIN).await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("first message"), "{reason}");

    // The per-user cap holds for first-message sockets too.
    let mut open = Vec::new();
    for _ in 0..8 {
        let mut board = api.live("/live/board", &admin).await;
        board.wait_for("a hello", |m| m["type"] == "hello").await;
        open.push(board);
    }
    let ninth = api
        .try_live_first_message("/live/board", &admin)
        .await
        .unwrap();
    let (code, reason) = closed(ninth, CLOSE_WITHIN).await;
    assert!(code == 1013 || code == 1008, "{code} {reason}");
    assert!(reason.contains("too many live sockets"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_coach_board_receives_nothing_of_a_running_session() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let a_admin = access(&api.register_gym("admin@ta.example", "Gym TA").await);
    let b_admin = access(&api.register_gym("admin@tb.example", "Gym TB").await);
    let athlete = api.create_athlete(&a_admin, "Ana").await;
    let creds = api.pair(&a_admin, athlete).await;
    let a_coach_pair = api
        .invite_and_register(&a_admin, "coach", "coach@ta.example", None)
        .await;
    let a_coach = access(&a_coach_pair);
    let a_coach_id = a_coach_pair["user"]["id"].as_i64().unwrap();
    let link = format!("/athletes/{athlete}/coaches/{a_coach_id}");
    let linked = api.call(Method::PUT, &link, Some(&a_admin), None).await;
    assert!(linked.status < 300, "{}", linked.json);
    let b_coach = access(
        &api.invite_and_register(&b_admin, "coach", "coach@tb.example", None)
            .await,
    );

    let mut a_board = api.live("/live/board", &a_coach).await;
    let mut b_board = api
        .try_live_first_message("/live/board", &b_coach)
        .await
        .unwrap();
    let mut b_admin_board = api.live("/live/board", &b_admin).await;
    for board in [&mut b_board, &mut b_admin_board] {
        board.wait_for("B's hello", |m| m["type"] == "hello").await;
    }
    let device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("tenants");
    let ride = ride_mqtt(&device, &session, 1, 20, |_| 150);
    let watch =
        async {
            a_board
                .wait_for("A's coach to see Ana's samples", |m| {
                    m["type"] == "sample" && m["athlete_id"] == athlete
                })
                .await;
            // Ana is streaming: while she goes on, B's boards get nothing but their hello.
            a_board.seen.clear();
            let window = Duration::from_secs(2);
            tokio::join!(
                a_board.drain_for(window),
                b_board.drain_for(window),
                b_admin_board.drain_for(window)
            );
            assert!(
                a_board
                    .seen
                    .iter()
                    .any(|m| m["type"] == "sample" && m["athlete_id"] == athlete),
                "Ana stopped riding before the check: {:?}",
                a_board.seen
            );
            for board in [&b_board, &b_admin_board] {
                assert!(
                    board.seen.iter().all(|m| m["type"] == "hello"
                        && m["sessions"].as_array().is_some_and(Vec::is_empty)),
                    "B got A's data: {:?}",
                    board.seen
                );
            }
        };
    tokio::select! {
        _ = ride => panic!("the ride ended before the checks"),
        () = watch => {}
    }
}

/// A session the board shows opens at once, though its row reaches the database only
/// with the writer's next commit (here after a 100 ms group-commit window): the gateway
/// waits for that commit instead of answering 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_on_the_board_opens_before_its_row_is_committed() {
    let gateway = paceline()
        .env("PACELINE_GROUP_COMMIT_MS", "100")
        .start()
        .await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@fresh.example", "Gym Fresh").await);
    let athlete = api.create_athlete(&admin, "Ana").await;
    let creds = api.pair(&admin, athlete).await;
    let mut board = api
        .open_live("/live/board?rate_hz=10", Some(&admin))
        .await
        .unwrap_or_else(|(status, body)| panic!("the board opens: HTTP {status} {body}"));
    board
        .wait_for("the board's hello", |m| m["type"] == "hello")
        .await;
    let device = MqttDevice::connect(&gateway, &creds).await;
    let session = session_id("fresh");
    let ride = ride_mqtt(&device, &session, 1, 3, |_| 140);
    let open = async {
        let first = board
            .wait_for("Ana's first sample on the board", |m| {
                m["type"] == "sample" && m["athlete_id"] == athlete
            })
            .await;
        let row = first["session_id"].as_i64().unwrap();
        let mut stream = api
            .try_live(&format!("/live/sessions/{row}"), &admin)
            .await
            .unwrap_or_else(|(status, body)| {
                panic!("the session seen on the board opens at once: HTTP {status} {body}")
            });
        stream
            .wait_for("the session's samples", |m| m["type"] == "sample")
            .await;
    };
    tokio::join!(ride, open);
}
