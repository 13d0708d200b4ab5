//! Recognises the labelled lines of a quarter page (`KR1:`, `Q2 Goals:`, managers, …).

use std::sync::LazyLock;

use regex::Regex;

use crate::core::records::Quarter;

/// What a logical line of an objective section says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Label {
    /// `Objective Manager: A and B`.
    ObjectiveManager(Vec<String>),
    /// `Key Result(s) Manager: A, B` — applies to the KRs after it.
    KrManager(Vec<String>),
    /// `KR1 …`, `KR1: …`, `KR 1 …`, `KR1 - …`, `KR1. …`.
    KeyResult { number: u32, text: String },
    /// `Objective: …`, an item standing where a KR would.
    ObjectiveItem(String),
    /// `Q2 Objective: …` (possibly empty).
    QuarterObjective { quarter: Quarter, text: String },
    /// `Q2 Goals:` / `Q2 Goal:`, possibly with a goal on the same line.
    QuarterGoals { quarter: Quarter, text: String },
    /// Anything else.
    Prose,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("label patterns are valid")
}

static MANAGER: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?i)(objective|key[ \t]+results?|kr)[ \t]+managers?[ \t]*:[ \t]*(.*)$"));
// The label must end at a separator or a space so that `KR12abc` or
// `KRs` stay prose; `.` only counts when a space or the end follows (`KR1.5`).
static KR: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?i)kr[ \t]?([0-9]{1,4})(?:[ \t]*[:\-–—][ \t]*|[ \t]*\.(?:[ \t]+|$)|[ \t]+|$)(.*)$")
});
static ITEM: LazyLock<Regex> = LazyLock::new(|| re(r"^(?i)objective[ \t]*:[ \t]*(.*)$"));
static Q_OBJECTIVE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?i)q([1-4])[ \t]*objectives?[ \t]*(?::[ \t]*(.*))?$"));
static Q_GOALS: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?i)q([1-4])[ \t]*goals?[ \t]*(?::[ \t]*(.*))?$"));
static BASELINE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\bbaseline[ \t]*:[ \t]*"));
static TASK: LazyLock<Regex> = LazyLock::new(|| re(r"\bT[1-9][0-9]{2,}\b"));

/// Classifies one line of plain text (already collapsed and trimmed).
pub(crate) fn classify(text: &str) -> Label {
    if let Some(c) = MANAGER.captures(text) {
        let who = split_managers(c.get(2).map_or("", |m| m.as_str()));
        let role = c.get(1).map_or("", |m| m.as_str());
        return if role.eq_ignore_ascii_case("objective") {
            Label::ObjectiveManager(who)
        } else {
            Label::KrManager(who)
        };
    }
    if let Some(c) = Q_OBJECTIVE.captures(text) {
        if let Some(quarter) = quarter(&c) {
            return Label::QuarterObjective {
                quarter,
                text: rest(&c, 2),
            };
        }
    }
    if let Some(c) = Q_GOALS.captures(text) {
        if let Some(quarter) = quarter(&c) {
            return Label::QuarterGoals {
                quarter,
                text: rest(&c, 2),
            };
        }
    }
    if let Some(c) = KR.captures(text) {
        if let Some(number) = c.get(1).and_then(|m| m.as_str().parse::<u32>().ok()) {
            if number > 0 {
                let text = rest(&c, 2);
                return Label::KeyResult { number, text };
            }
        }
    }
    if let Some(c) = ITEM.captures(text) {
        return Label::ObjectiveItem(rest(&c, 1));
    }
    Label::Prose
}

fn quarter(c: &regex::Captures<'_>) -> Option<Quarter> {
    c.get(1)?
        .as_str()
        .parse::<u8>()
        .ok()
        .and_then(Quarter::from_number)
}

fn rest(c: &regex::Captures<'_>, i: usize) -> String {
    c.get(i).map_or("", |m| m.as_str()).trim().to_string()
}

/// Splits a manager list on ` and `, `, ` and ` & `; names are trimmed and
/// kept as written (non-ASCII letters included).
pub(crate) fn split_managers(s: &str) -> Vec<String> {
    s.replace(" & ", ",")
        .replace(" and ", ",")
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// Splits a `== program - title ==` heading on its last ` - `; without one,
/// the whole heading is the title.
pub(super) fn split_heading(heading: &str) -> (Option<String>, String) {
    match heading.rsplit_once(" - ") {
        Some((program, title)) if !program.trim().is_empty() && !title.trim().is_empty() => {
            (Some(program.trim().to_string()), title.trim().to_string())
        }
        _ => (None, heading.trim().to_string()),
    }
}

/// Splits a KR text into the statement and its trailing `Baseline: …`
/// sentence, if any.
pub(crate) fn split_baseline(text: &str) -> (String, Option<String>) {
    match BASELINE.find(text) {
        Some(m) => {
            let baseline = text[m.end()..].trim();
            let statement = text[..m.start()].trim_end().to_string();
            let baseline = (!baseline.is_empty()).then(|| baseline.to_string());
            (statement, baseline)
        }
        None => (text.to_string(), None),
    }
}

/// Phabricator task ids (`T123456`) written in a text.
pub(super) fn tasks_in_text(text: &str) -> impl Iterator<Item = String> + '_ {
    TASK.find_iter(text).map(|m| m.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kr(number: u32, text: &str) -> Label {
        Label::KeyResult {
            number,
            text: text.into(),
        }
    }

    #[test]
    fn kr_label_spellings() {
        assert_eq!(classify("KR1 Reached level 3"), kr(1, "Reached level 3"));
        assert_eq!(classify("KR1: Develop 1 model"), kr(1, "Develop 1 model"));
        assert_eq!(classify("KR 1 Develop"), kr(1, "Develop"));
        assert_eq!(classify("KR1 - Develop"), kr(1, "Develop"));
        assert_eq!(classify("KR1. Develop"), kr(1, "Develop"));
        assert_eq!(classify("KR3 : Evaluate"), kr(3, "Evaluate"));
        assert_eq!(classify("KR12: x"), kr(12, "x"));
        assert_eq!(classify("KR2"), kr(2, ""));
        assert_eq!(classify("KR1:Develop"), kr(1, "Develop"));
        assert_eq!(classify("KRs are nice"), Label::Prose);
        assert_eq!(classify("KR0: zero"), Label::Prose);
        assert_eq!(classify("KR1.5 is a version"), Label::Prose);
        assert_eq!(classify("KR12abc"), Label::Prose);
    }

    #[test]
    fn quarter_labels() {
        assert_eq!(
            classify("Q2 Objective:"),
            Label::QuarterObjective {
                quarter: Quarter::Q2,
                text: "".into()
            }
        );
        assert_eq!(
            classify("Q3 Objective: ship it"),
            Label::QuarterObjective {
                quarter: Quarter::Q3,
                text: "ship it".into()
            }
        );
        assert_eq!(
            classify("Q4 Goal:"),
            Label::QuarterGoals {
                quarter: Quarter::Q4,
                text: "".into()
            }
        );
        assert_eq!(
            classify("Q2 Goals: one goal"),
            Label::QuarterGoals {
                quarter: Quarter::Q2,
                text: "one goal".into()
            }
        );
        // In-text phrases are not labels.
        assert_eq!(classify("by Q4 we will"), Label::Prose);
        assert_eq!(classify("by end of Q2"), Label::Prose);
        assert_eq!(classify("Q2 goals are ambitious"), Label::Prose);
        assert_eq!(classify("Q5 Goals:"), Label::Prose);
    }

    #[test]
    fn manager_labels() {
        assert_eq!(
            classify("Key Result Manager:John Bennett"),
            Label::KrManager(vec!["John Bennett".into()])
        );
        assert_eq!(
            classify("Key Results Manager: Kate Chapman"),
            Label::KrManager(vec!["Kate Chapman".into()])
        );
        assert_eq!(
            classify("Objective Manager: Birgit Müller & Jean-René Branaa"),
            Label::ObjectiveManager(vec!["Birgit Müller".into(), "Jean-René Branaa".into()])
        );
        assert_eq!(split_managers(" A and B, C & D "), vec!["A", "B", "C", "D"]);
        assert!(split_managers("").is_empty());
    }

    #[test]
    fn objective_items() {
        assert_eq!(
            classify("Objective: Implement a threat"),
            Label::ObjectiveItem("Implement a threat".into())
        );
        assert_eq!(classify("Objectives are good"), Label::Prose);
    }

    #[test]
    fn headings() {
        assert_eq!(
            split_heading("MTP-Y2: Platform Evolution - Evolutionary architecture"),
            (
                Some("MTP-Y2: Platform Evolution".into()),
                "Evolutionary architecture".into()
            )
        );
        assert_eq!(
            split_heading("A - B - C"),
            (Some("A - B".into()), "C".into())
        );
        assert_eq!(split_heading("Front-line"), (None, "Front-line".into()));
        assert_eq!(split_heading(" - x"), (None, "- x".into()));
    }

    #[test]
    fn baselines() {
        assert_eq!(
            split_baseline("Hire people. Baseline: 0 SPoF positions filled"),
            (
                "Hire people.".into(),
                Some("0 SPoF positions filled".into())
            )
        );
        assert_eq!(split_baseline("No base"), ("No base".into(), None));
        assert_eq!(split_baseline("x Baseline:"), ("x".into(), None));
    }

    #[test]
    fn tasks() {
        let t: Vec<_> = tasks_in_text("see T123456, phab:T234567 and T12 or AT1234").collect();
        assert_eq!(t, vec!["T123456", "T234567"]);
    }
}
