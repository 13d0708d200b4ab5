//! The bot flag asserted (issue 15): an account that is not in the wiki's bot
//! group edits no page — sync exits 3 and says where to ask for the flag,
//! `doctor` names the missing right — and the status page says why.

use serde_json::Value;

use crate::support::revisions;
use crate::support::test_wiki;
use crate::support::{deck, Setup, QUARTERS};

#[test]
fn without_the_bot_flag_sync_edits_nothing_exits_3_and_doctor_names_the_right() {
    let w = test_wiki();
    let name = format!("Unflagged{}", std::process::id());
    let password = w.create_bot(&name);
    w.unbot(&name);
    let s = Setup::new("no-bot-flag", None);
    s.ok(&["import", deck().to_str().unwrap()]);
    let as_unflagged = |args: &[&str]| {
        let mut cmd = s.cmd(args);
        cmd.env("GOALSBOT_USERNAME", format!("{name}@goalsbot"))
            .env("GOALSBOT_PASSWORD", &password);
        crate::support::run(cmd)
    };
    let out = as_unflagged(&["sync", "--json"]);
    assert_eq!(out.code, Some(3), "{out:?}");
    let stats: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(stats["edits"], 0, "{stats}");
    let refused = stats["refused"].to_string();
    assert!(
        refused.contains("not in the wiki's bot group")
            && refused.contains("Project:Requests for permissions"),
        "{stats}"
    );
    let mut pages: Vec<String> = QUARTERS
        .iter()
        .map(|q| format!("{}/2020-21 {q}", s.prefix))
        .collect();
    pages.push(format!("{}/2020-21", s.prefix));
    for title in &pages {
        assert!(
            revisions(title).iter().all(|(_, user, _)| user != &name),
            "{title} was edited without the bot flag"
        );
    }
    // The status page says why (the bot's own page, written without the flag).
    let status = crate::support::raw(&format!("{}/Bot status", s.prefix));
    assert!(status.contains("bot group"), "{status}");
    let doctor = as_unflagged(&["doctor"]);
    assert_ne!(doctor.code, Some(0), "{doctor:?}");
    assert!(
        doctor
            .stdout
            .contains(&format!("{name} is not in the wiki's bot group"))
            && doctor.stdout.contains("Project:Requests for permissions"),
        "{doctor:?}"
    );
}
