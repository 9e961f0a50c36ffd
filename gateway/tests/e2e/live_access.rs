//! The live WebSockets re-check access: a disabled user's, a logged-out login's and an
//! unlinked coach's sockets close (1008, with a reason) or stop carrying the athlete; a
//! user has at most 8 live sockets; an oversized incoming message ends the socket.

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
    board
        .wait_for("the board's hello", |m| m["type"] == "hello")
        .await;
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
