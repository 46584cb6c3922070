//! Every portal page of an account with a mailbox in every state reads as plain words: no
//! internal names (`active_subscription`, `trialing`, `past_due`), no "day(s)", no raw plan ids,
//! no byte counts in letters. (Horizontal scroll at 375 px is measured in Chromium by
//! `browser_second_pass`.)

use super::every_state::{self, PASSWORD, raw_words, visible_text};
use super::helpers::{START_MS, spawn_apps};

#[tokio::test]
async fn every_portal_page_of_an_account_in_every_state_reads_as_plain_words() {
    for app in spawn_apps().await {
        let seeded = every_state::seed(&app.state, "words@example.com", START_MS).await;
        app.clock.set_ms(START_MS + 3 * 3_600_000);
        let mut browser = app.browser();
        let login = browser.log_in(&seeded.email, PASSWORD).await;
        assert_eq!(login.status, 303, "{}", app.backend);
        let mut problems = Vec::new();
        for page in &seeded.pages {
            let answer = browser.get(page).await;
            let expected = if page == "/no-such-page" { 404 } else { 200 };
            if answer.status != expected {
                problems.push(format!("{page}: status {}", answer.status));
                continue;
            }
            if let Some(why) = raw_words(&visible_text(&answer.body)) {
                problems.push(format!("{page}: {why}"));
            }
        }
        assert!(
            problems.is_empty(),
            "{}: pages a customer would not understand:\n{}",
            app.backend,
            problems.join("\n")
        );
    }
}
