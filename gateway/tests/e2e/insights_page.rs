//! The Insights page in a real headless Chromium: a gym-admin chooses an athlete with 60
//! days of sleep and check-ins (the planted lag-1 relation of `insights`), sees a card per
//! finding with the API's sentence and its scatter plot drawn by the server, answers "was
//! this helpful?" on the planted one (stored, as the API lists it) and sees the answer in
//! the gym's feedback table.

use paceline_testkit::api::*;
use paceline_testkit::browser::Browser;
use serde_json::json;
use time::Duration;

use crate::browser::{log_in, screenshot};
use crate::harness::*;
use crate::insights::{energy, put_daily, sleep_s, yesterday};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gym_admin_reads_an_athletes_findings_as_cards_and_answers_was_this_helpful() {
    let gateway = paceline().start().await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@cards.example", "Cards Gym").await);
    let ana = api.create_athlete(&admin, "Ana Insight").await;
    let first = yesterday() - Duration::days(59);
    for d in 0..60_u64 {
        let mut body = json!({"sleep_s": sleep_s(d)});
        if let Some(e) = energy(d) {
            body["energy"] = json!(e);
        }
        let date = first + Duration::days(i64::try_from(d).unwrap());
        let reply = put_daily(&api, &admin, ana, date, body).await;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }
    let report = api
        .get(&format!("/athletes/{ana}/insights/correlations"), &admin)
        .await
        .json;
    let works = report["what_works"].as_array().unwrap();
    let findings = works.len() + report["what_doesnt"].as_array().unwrap().len();
    let planted = works
        .iter()
        .position(|f| {
            f["input"] == "sleep_s" && f["output"] == "check_in_energy" && f["lag_days"] == 1
        })
        .unwrap_or_else(|| panic!("{report}"));

    let browser = Browser::start().await;
    let base = format!("http://{}", gateway.http);
    log_in(&browser, &base, "admin@cards.example").await;
    browser.click("#top nav a[href='/insights']").await;
    browser
        .wait_js(
            "the athletes to choose",
            "return document.querySelectorAll('#choose a[data-athlete]').length === 1",
        )
        .await;
    browser
        .click(&format!("#choose a[data-athlete='{ana}']"))
        .await;

    // A card per finding, in the API's order, each with its sentence and scatter plot.
    let cards = browser
        .wait_js(
            "the finding cards with their plots",
            &format!(
                "const cards = [...document.querySelectorAll('article.finding')];
                 const drawn = cards.every(c => {{ const i = c.querySelector('.scatter img');
                     return i && i.complete && i.naturalWidth > 0; }});
                 return cards.length === {findings} && drawn && cards.map(c =>
                     [Number(c.dataset.index), c.dataset.input, c.dataset.output, Number(c.dataset.lag),
                      c.querySelector('.sentence').textContent])"
            ),
        )
        .await;
    let expected: Vec<_> = works
        .iter()
        .chain(report["what_doesnt"].as_array().unwrap())
        .enumerate()
        .map(|(i, f)| json!([i, f["input"], f["output"], f["lag_days"], f["sentence"]]))
        .collect();
    assert_eq!(cards, json!(expected));
    let card = format!("article.finding[data-index='{planted}']");
    screenshot(&browser, "insights.png").await;

    // "Was this helpful?" on the planted finding: yes.
    browser.click(&format!("{card} .helpful-yes")).await;
    let status = browser
        .wait_js(
            "the answer saved",
            &format!(
                "const c = document.querySelector(\"{card}\");
                 return c.dataset.answered && c.querySelector('.feedback-status').textContent"
            ),
        )
        .await;
    assert_eq!(status, json!("Thanks: noted as helpful."));
    let stored = api.get("/insights/feedback", &admin).await.json;
    assert_eq!(
        (stored["helpful"].clone(), stored["not_helpful"].clone()),
        (json!(1), json!(0))
    );
    let answer = &stored["feedback"][0];
    assert_eq!(
        (
            &answer["athlete_id"],
            &answer["input"],
            &answer["output"],
            &answer["lag_days"]
        ),
        (
            &json!(ana),
            &json!("sleep_s"),
            &json!("check_in_energy"),
            &json!(1)
        )
    );

    // The gym-admin sees the gym's answers.
    browser.client.refresh().await.unwrap();
    let table = browser
        .wait_js(
            "the feedback table",
            "const rows = [...document.querySelectorAll('#feedback-rows tr')];
             return !document.getElementById('feedback').hidden && rows.length === 1 &&
                 [document.getElementById('feedback-summary').textContent,
                  [...rows[0].querySelectorAll('td')].slice(1).map(td => td.textContent)]",
        )
        .await;
    assert_eq!(
        table,
        json!([
            "1 helpful · 0 not helpful",
            [ana.to_string(), "sleep s → check in energy · lag 1", "yes"]
        ])
    );
}
