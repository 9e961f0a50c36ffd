//! The coach chat's page in a real headless Chromium (issue 24, point 8): an athlete opens
//! Chat from the navigation (her own chat), teaches a word and sees what was learned, logs
//! a run and sees the action, edits the word's confidence and forgets another in the terms
//! list, and finds the conversation again after a reload; a screenshot of the page.

use paceline_testkit::api::*;
use paceline_testkit::browser::Browser;
use serde_json::json;

use crate::browser::{log_in, screenshot};
use crate::chat::corpus_athlete;
use crate::harness::*;

/// Sends `message` through the page and waits for its answer (the `n`th).
async fn say(browser: &Browser, message: &str, n: usize) {
    browser.fill("#chat-message", message).await;
    browser.click("#chat-send").await;
    browser
        .wait_js(
            "the answer",
            &format!(
                "return document.querySelectorAll('#chat-log li.assistant').length === {n}
                    && !document.getElementById('chat-send').disabled"
            ),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_athlete_talks_to_the_chat_and_edits_her_words_in_the_page() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(
        &api.register_gym("admin@chatpage.example", "Chat Page Gym")
            .await,
    );
    let ana = corpus_athlete(&api, &admin, "Ana").await;
    let me = access(
        &api.invite_and_register(&admin, "athlete", "ana@chatpage.example", Some(ana))
            .await,
    );

    let browser = Browser::start().await;
    let base = format!("http://{}", gateway.http);
    log_in(&browser, &base, "ana@chatpage.example").await;
    browser.click("#top nav a[href='/chat']").await;
    browser
        .wait_js(
            "her own chat",
            &format!(
                "return location.pathname === '/athletes/{ana}/chat'
                    && !document.getElementById('chat').hidden
                    && !document.getElementById('terms-empty').hidden"
            ),
        )
        .await;

    // Taught: the answer says what it learned, and the terms list has it at 0.5.
    say(&browser, "dhamaka is a dance workout", 1).await;
    let learned = browser
        .wait_js(
            "the learned term",
            "const l = document.querySelector('#chat-log li.learned[data-term=\"dhamaka\"]');
             const row = document.querySelector('#terms tr[data-term=\"dhamaka\"]');
             return l && row && [l.textContent, row.querySelector('.meaning').textContent,
                 row.querySelector('.confidence').textContent]",
        )
        .await;
    assert_eq!(
        learned,
        json!(["Learned \"dhamaka\": dance workout", "dance workout", "0.5"])
    );

    // A run logged: the answer lists the action; the library has it.
    say(&browser, "ran 10 miles this morning in 1:20", 2).await;
    let action = browser
        .wait_js(
            "the action",
            "const a = document.querySelector('#chat-log li.action[data-tool=\"log_activity\"]');
             return a && a.textContent",
        )
        .await;
    let action = action.as_str().unwrap();
    assert!(
        action.starts_with("Done: logged run, 16.09 km in 1:20:00 on "),
        "{action}"
    );
    let listed = api.get(&format!("/athletes/{ana}/activities"), &me).await;
    assert_eq!(
        listed.json["items"].as_array().unwrap().len(),
        1,
        "{}",
        listed.json
    );

    // Edited: confidence 0.9 from the list's form; a new word added, then forgotten.
    browser
        .click("#terms button.term-edit[data-term='dhamaka']")
        .await;
    browser.fill("#term-confidence", "0.9").await;
    browser.click("#term-save").await;
    browser
        .wait_js(
            "the new confidence",
            "const row = document.querySelector('#terms tr[data-term=\"dhamaka\"]');
             return row && row.querySelector('.confidence').textContent === '0.9'",
        )
        .await;
    browser.fill("#term-phrase", "hill loop").await;
    browser.fill("#term-meaning", "a run workout").await;
    browser.click("#term-save").await;
    browser
        .wait_js(
            "the new word",
            "return !!document.querySelector('#terms tr[data-term=\"hill loop\"]')",
        )
        .await;
    screenshot(&browser, "chat.png").await;
    browser
        .click("#terms button.term-delete[data-term='hill loop']")
        .await;
    browser
        .wait_js(
            "the word forgotten",
            "return !document.querySelector('#terms tr[data-term=\"hill loop\"]')
                && !!document.querySelector('#terms tr[data-term=\"dhamaka\"]')",
        )
        .await;
    let terms = api.get("/me/terms", &me).await;
    assert_eq!(
        terms.json["terms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (
                t["term"].as_str().unwrap(),
                t["confidence"].as_f64().unwrap()
            ))
            .collect::<Vec<_>>(),
        [("dhamaka", 0.9)]
    );

    // A stated preference is listed; "Wrong" corrects it through the PUT route.
    say(&browser, "no workouts before 7", 3).await;
    let listed = browser
        .wait_js(
            "the preference",
            "const row = document.querySelector('#prefs tr');
             return row && document.getElementById('prefs-empty').hidden
                 && [row.querySelector('.pref').textContent, row.querySelector('.status').textContent]",
        )
        .await;
    assert_eq!(listed, json!(["no workouts before, hour 7", "confirmed"]));
    browser.click("#prefs button.pref-correct").await;
    browser
        .wait_js(
            "the preference corrected",
            "const row = document.querySelector('#prefs tr');
             return row && row.querySelector('.status').textContent === 'corrected'",
        )
        .await;
    let prefs = api.get(&format!("/athletes/{ana}/preferences"), &me).await;
    assert_eq!(
        prefs.json["preferences"][0]["status"], "corrected",
        "{}",
        prefs.json
    );

    // Reloaded: the conversation is read back from the history.
    browser.client.refresh().await.unwrap();
    let back = browser
        .wait_js(
            "the conversation again",
            "const li = [...document.querySelectorAll('#chat-log li.user, #chat-log li.assistant')];
             return li.length === 6 && li.map(l => l.className)",
        )
        .await;
    assert_eq!(
        back,
        json!([
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant"
        ])
    );
}
