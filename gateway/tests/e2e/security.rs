//! The web's security rules against a real gateway: the login page drops a `next` that
//! leaves the site.

use reqwest::redirect::Policy;

use crate::harness::*;

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_drops_a_next_that_leaves_the_site() {
    let gateway = paceline().start().await;
    let client = plain_client();
    let get = async |query: &str| {
        client
            .get(format!("http://{}/login?{query}", gateway.http))
            .send()
            .await
            .unwrap()
    };
    for query in [
        "next=%2F%5Cevil.example", // /\evil.example
        "next=%2F%2Fevil.example", // //evil.example
        "next=https%3A%2F%2Fevil.example",
        "next=%2F%5C%2Fevil",         // /\/evil
        "next=%2F%09%2Fevil.example", // /<tab>/evil.example
        "next=/board&next=//evil.example",
    ] {
        let reply = get(query).await;
        assert_eq!(reply.status().as_u16(), 303, "/login?{query}");
        assert_eq!(
            reply.headers()["location"].to_str().unwrap(),
            "/login",
            "/login?{query}"
        );
    }
    for query in ["", "next=%2Fboard", "next=%2Flive%2Fs-1%3Frate%3D2"] {
        let reply = get(query).await;
        assert_eq!(reply.status().as_u16(), 200, "/login?{query}");
    }
}
