//! Prints a week of daily plans for three example athletes as Markdown: the document
//! committed as `docs/planning/week-of-plans.md`.
//!
//! ```text
//! cargo run -p paceline-planning --example week > docs/planning/week-of-plans.md
//! ```
//!
//! The athletes and the rendering live in `week/athletes.rs`, shared with the
//! `week_of_plans` test that checks the committed file is what this prints.

#![allow(clippy::print_stdout, reason = "an example prints its document")]

#[path = "week/athletes.rs"]
mod athletes;

fn main() {
    print!("{}", athletes::markdown());
}
