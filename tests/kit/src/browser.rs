//! Headless Chromium driven over WebDriver: chromedriver on a free port, in a process
//! group of its own, and a fantoccini [`Client`] on a fresh Chromium profile. Dropping the
//! [`Browser`] (a failed test too) kills the whole group, Chromium's processes with it.
//!
//! Needs `/usr/bin/chromium` and `chromedriver` (Debian `chromium`, `chromium-driver`).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::ports::free_tcp_port;
use crate::wait::{DEADLINE, wait_until};

/// The Chromium binary chromedriver starts.
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver and a Chromium session on a fresh profile; both end on drop.
pub struct Browser {
    /// The WebDriver client (navigate, find, execute, screenshot).
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (1920×1080) and connects to it.
    pub async fn start() -> Browser {
        let port = free_tcp_port();
        // In a process group of its own, so that dropping the browser ends Chromium's
        // processes with chromedriver, not only chromedriver.
        let driver = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (Debian package chromium-driver)");
        let profile = tempfile::tempdir().expect("a Chromium profile folder");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1920,1080",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({"binary": CHROMIUM, "args": args}),
        );
        let url = format!("http://127.0.0.1:{port}");
        // Owned by the browser at once, so a failed start still ends chromedriver.
        let mut browser = Starting {
            driver: Some(driver),
        };
        let client = wait_until("chromedriver to start Chromium", DEADLINE, async || {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        Browser {
            client,
            driver: browser.driver.take().expect("the driver"),
            _profile: profile,
        }
    }

    /// Runs `script` (the body of a function that returns a value) until it returns
    /// something other than null, undefined or false, and returns that; at the deadline
    /// fails the test with the page's address and text.
    pub async fn wait_js(&self, what: &str, script: &str) -> Value {
        // One round trip per poll: the value, or where the page is and what it reads.
        let probe = format!(
            "let value = null;
             try {{ value = (() => {{ {script} \n}})(); }} catch (e) {{ value = null; }}
             if (value === null || value === undefined || value === false) {{
               return {{pending: location.href + ' reads ' +
                 JSON.stringify(document.body ? document.body.innerText : '')}};
             }}
             return {{value}};"
        );
        wait_until(what, DEADLINE, async || {
            match self.client.execute(&probe, Vec::new()).await {
                Ok(mut answer) if answer.get("value").is_some() => Ok(answer["value"].take()),
                Ok(answer) => Err(format!("the page at {}", answer["pending"])),
                Err(e) => Err(format!("the script failed: {e}")),
            }
        })
        .await
    }

    /// Types `text` into the field `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no field {css}: {e}"));
        field.clear().await.expect("clear the field");
        field.send_keys(text).await.expect("type into the field");
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Takes a screenshot (PNG) and writes it as `name` into each of `folders`.
    pub async fn screenshot(&self, name: &str, folders: &[&Path]) {
        let png = self.client.screenshot().await.expect("a screenshot");
        for folder in folders {
            std::fs::create_dir_all(folder).expect("a screenshot folder");
            std::fs::write(folder.join(name), &png).expect("write the screenshot");
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        end_group(&mut self.driver);
    }
}

/// chromedriver while Chromium starts: ended with its group if the start fails.
struct Starting {
    driver: Option<Child>,
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.as_mut() {
            end_group(driver);
        }
    }
}

/// Kills the process group `leader` leads, then the leader, and reaps it.
fn end_group(leader: &mut Child) {
    let group = rustix::process::Pid::from_child(leader);
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    let _ = leader.kill();
    let _ = leader.wait();
}
