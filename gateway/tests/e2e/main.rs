//! End-to-end tests of the gateway: a real `paceline serve` process on ephemeral loopback
//! ports, devices talking to it over real MQTT and QUIC, the database read back. The
//! process, the API client, the edge agent's riders, the browser and every wait come from
//! the test kit (`paceline-testkit`); `harness` holds this suite's own raw device clients.
//!
//! - `live`: a ride over MQTT and over QUIC → cues back at the device, session, samples
//!   and cues stored, summary written when the session ends.
//! - `acks`: acks never run ahead of the commit; after a SIGKILL the restarted gateway
//!   resumes acking; resent frames are stored once; gaps hold the ack back.
//! - `failures`: a database locked against the writer: nothing acked, `/health/ready`
//!   503 after three failed commits; released, the resent frames are acked, ready again.
//! - `agent`: the edge agent (in-process) rides simulated athletes over QUIC, with the
//!   certificate pinned, and over MQTT: every frame acknowledged and stored once.
//! - `external_broker`: the gateway on a real Mosquitto process instead of its embedded
//!   broker (shared subscription, ride coached and acknowledged, forged frames refused),
//!   and the HTTP hooks a broker cluster calls to authenticate devices and check topics.
//! - `hostile`: garbage, oversize, wrongly sealed, misaddressed and replayed frames are
//!   refused and counted while a well-behaved rider's cues keep flowing.
//! - `replay`: a thousand replays of a device's captured frames (with its own broker
//!   login) store nothing, move no route (the coach's cue still reaches its QUIC
//!   connection) and keep no silent session alive.
//! - `sweep`: the issue-19 sweep: another tenant's device subscribed to `#` hears nothing
//!   of a 100-athlete demo gym; a hundred live sockets of revoked users close within 1 s.
//! - `broker_acl`: the embedded broker's topic ACLs at its front door: another tenant's
//!   device subscribing to `#` or `pl/v1/+/+/up` hears nothing and is disconnected, one
//!   publishing on another device's uplink or with the retain flag likewise, each counted;
//!   the owner rides on.
//! - `auth`: the first administrator (its password in a 0600 file), wrong passwords and
//!   unknown accounts, forged, `alg:none`, wrong-audience and expired tokens, refresh
//!   rotation with reuse revocation, logout, lockout (also under concurrent guesses), the
//!   per-address limits (`X-Forwarded-For` only from a trusted proxy, IPv6 by /64) on
//!   logins and registrations, password change and a gym-admin's reset.
//! - `isolation`: another tenant gets 404 on every route with this tenant's ids and sees
//!   nothing on the live board; roles hold; errors are JSON; OpenAPI covers every route.
//! - `security`: the security headers on every response, the login page's `next` kept
//!   on the site, invitations revoked by their gym-admin only and then admitting no one,
//!   an athlete's heart-rate limits never raised by the athlete, no coach's command from
//!   a device.
//! - `flow`: the whole product through the API only, with the edge agent riding.
//! - `demo`: `paceline demo` prints the board, the login and one line per cue, with
//!   every promised kind of cue (the overheating rider's safety cue included) within two
//!   minutes, and no log lines or colour escapes.
//! - `quotas`: a device over its samples per second or sessions per day, a tenant over
//!   its storage: frames refused unacknowledged (and taken when sent again in time) and
//!   counted by quota while another tenant rides on; pairing over the device quota gets
//!   409 `quota_exceeded`; `GET /tenant/usage`; the CSV export streamed, byte-identical.
//! - `linkage`: the `paceline` binary loads only the C runtime and holds no Bluetooth
//!   stack (ldd, and a search of its symbols).
//! - `browser`: the web UI in a real headless Chromium (chromedriver): login, the live
//!   board with a safety cue and every sensor's battery, a coach's commands from the
//!   athlete screen, a finished session's chart and summary, the plan library and a plan
//!   uploaded through the file input, an edge agent's simulated rider on its tile, an
//!   athlete's own narrower view, and an activity library filled through the page
//!   (uploads, a duplicate, an entry by hand, the chart, sources and unmerge); screenshots.
//! - `activities`: the activity library with real files: every shared FIT imported with
//!   the device's totals, re-imported as duplicates, exported (FIT, TCX, GPX, CSV) and
//!   imported into the same activity, gpsbabel's TCX and GPX merged and unmerged with the
//!   provenance naming the FIT; manual entries in typed units; a zip with damaged and
//!   hostile entries failing only those; another tenant and an unlinked coach 404;
//!   `paceline import` on a folder; a live session that ends appearing as `paceline`.
//! - `planning`: training load, recovery and daily metrics through the API with the
//!   issue's numbers (CTL 63.21, ATL 99.75, TSB −36.54; ACWR 1.60; recovery 80.8 green and
//!   64.6 at ACWR 1.6), load recomputed when an activity is deleted, impossible values
//!   400 naming the field, planning settings, today's plan the same when asked again and
//!   regenerated, started as the next plan, life events by hand and from an ICS file,
//!   another tenant and an unlinked coach 404.
//! - `sync`: Strava sync against the local provider servers (`paceline-providers`):
//!   connect through the authorize redirect (state single use, the caller's own), the
//!   backfill job filling the library with `strava` copies, a second sync adding nothing,
//!   a scripted `invalid_grant` → `needs_reauth` and a dead job, disconnect calling
//!   deauthorize, another gym seeing none of it.
//! - `chat`: the coach chat's corpus (≥ 150 utterances) through `POST /chat` with the
//!   context it assumes (FTP, load, today's plan, learned terms), dates checked on the
//!   gateway's today; learned-term confidence over a scripted conversation through
//!   `/me/terms`; "only 35 minutes today" shortening today's stored plan, "swap today's
//!   workout for a run" planning it again as a run, "move it to tomorrow" moving it, stated preferences in the planning settings (today's weekday
//!   without training → a rest day), a time of day answered as not built; another gym,
//!   another athlete and another user's conversation 404; the 4,000-character limit.
//! - `privacy`: a scripted day with an athlete's data in every table of the data
//!   registry: her export (a zip of JSON, CSV and FIT without secrets, the link working
//!   once and not after expiry), a gym's export, her deletion with the password (every
//!   column and every file of the data folder scanned for her email, name and ids:
//!   nothing; the other athlete untouched), a gym-admin's deletion, the audit searched,
//!   and no email, name, password or token in any line of the debug log.
//! - `impersonation`: a gym-admin's read-only "view as" an athlete: reads as her, every
//!   write 403 `read_only_impersonation` changing nothing, no refresh, ended at once,
//!   past its end refused, another gym's user 404, the audit's starts and ends; in
//!   Chromium, the web app's banner and its "stop".
//! - `sharing`: what an athlete lets linked coaches see: health off hides her daily
//!   metrics, recovery and insights from them but not her activities, a coach's own
//!   setting wins, back on restores it, her gym-admin always sees.
//! - `chat_llm`: the chat with an LLM configured, against `fake_llm` (a local server of
//!   the OpenAI-compatible protocol, scripted per request): the request's key, model,
//!   tools and history; a model's 400 W clamped to 150 % of FTP; a model's `log_activity`
//!   run as the caller; a destructive tool waiting for yes; a tool naming another athlete,
//!   garbage and an error status refused and a slow model cut at the configured timeout,
//!   each answered by the offline engine; the configured daily limit; the key never
//!   logged.
//! - `chat_page`: the chat's page in headless Chromium: an athlete's own chat from the
//!   navigation, a word taught and shown learned, a run logged and shown done, the terms
//!   list edited (confidence, a word added and forgotten), the conversation read back
//!   after a reload; `docs/screenshots/chat.png`.
//! - `sms`: the chat by SMS against `fake_twilio` (Twilio's REST API): a phone linked by
//!   the code sent to it; the webhook's signature (none, wrong, right), repeated
//!   `MessageSid`s, nothing for unknown numbers, a reply as TwiML in segments,
//!   STOP/START/HELP, the number never logged.
//! - `insights`: the day's nutrition, body and work values by hand and from CSV (400s
//!   naming the field or line, all or nothing); a real FIT ride's efficiency against the
//!   core computed from the file, the weekly trend and its chart; correlations over 60
//!   days finding a planted lag-1 relation with its sentence, cached until a day changes,
//!   the scatter plot, feedback for the gym-admin; a shared plan's playlist from an
//!   uploaded M3U as JSON and M3U; another gym 404 on every route.
//! - `insights_page`: the Insights page in Chromium: a card per finding with its sentence
//!   and scatter plot, "was this helpful?" stored and shown in the gym-admin's table.
//! - `digest`: the weekly digest through `paceline digest run --at` against a local SMTP
//!   server (`smtp`: STARTTLS, AUTH): each athlete's mail at their Sunday 18:00, a refused
//!   mail retried later, nothing sent twice by later runs, both parts and the
//!   List-Unsubscribe headers; the unsubscribe link without a login stopping the next
//!   week's mail.
//! - `console_page`: the owner's console in Chromium (one gateway, one browser): users
//!   searched, filtered, paged and a role changed; an invitation created and revoked;
//!   system health; data quality (a bare profile, a device aged a week, a 2099 ride);
//!   the audit searched; "View as" landing on a read-only Today; the new routes' API.

mod harness;
mod smtp;

mod acks;
mod activities;
mod agent;
mod auth;
mod broker_acl;
mod browser;
mod chat;
mod chat_llm;
mod chat_page;
mod connections_page;
mod console_page;
mod demo;
mod digest;
mod external_broker;
mod failures;
mod fake_llm;
mod fake_twilio;
mod flow;
mod hostile;
mod impersonation;
mod insights;
mod insights_page;
mod isolation;
mod linkage;
mod live;
mod live_access;
mod planning;
mod privacy;
mod quotas;
mod replay;
mod security;
mod sharing;
mod sms;
mod sweep;
mod sync;
mod today;
