//! Which key result is which when staff renumber, reorder, insert or delete
//! them: a KR's id follows the KR, not its number.
//!
//! A page's KRs are first given ids by number (`…/kr3` for `KR3`), as the
//! records' rules say for a KR seen for the first time. When the bot knows
//! what the page said before (the records of the revision it last synced,
//! with the ids they had then) it [`follow`]s each KR of an objective to its
//! id in stages, each taking only what the one before left:
//!
//! 1. the same number with the same words, or with words the KR of that
//!    number had in the store's history up to that revision's sync (a
//!    revert): unchanged;
//! 2. the same words as exactly one known KR (under another number: it was
//!    renumbered or moved within the objective), else as exactly one other
//!    KR of the objective that the store holds (shown on another page, or
//!    removed: a deletion taken back), else words exactly one known KR had
//!    in the store's history (a revert, then a move);
//! 3. the same number as a known KR not yet taken: reworded in place;
//! 4. otherwise a KR new to this page: its number's id (the same record as
//!    that number on the year's other pages, as at first sight) unless
//!    another KR of the page holds it, else the lowest id no record of the
//!    store holds.
//!
//! Where stage 3 would guess (a KR reworded *and* renumbered at once, its
//! words closer to another known KR than to the one whose number it took),
//! [`follow`] says so, and the caller holds the page for a person rather
//! than move values between key results.
//!
//! The bot's own save is read by number instead ([`Following::of_own_save`]):
//! it rewrote texts (a tracker's words, perhaps another KR's) but moved no
//! line.
//!
//! The bot's own status rows carry ids (`data-goalsbot-kr`): once a page's
//! KRs are followed, its rows bind to them by id (`core::parse`).

use std::collections::{BTreeMap, BTreeSet};

use crate::core::fields::{FieldKey, Fields};
use crate::core::merge::PastWords;
use crate::core::records::{FiscalYearRecords, KeyResult, Kind};

/// What the bot knows of a page's key results before reading a new revision
/// of it: the KRs of each objective of the last synced revision, and every
/// record id the store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Following {
    /// Per objective id, its KRs and items as last synced, in page order.
    known: BTreeMap<String, Vec<Known>>,
    /// Per objective id, its other KRs the store holds (on other pages, or
    /// removed), with their words.
    elsewhere: BTreeMap<String, Vec<Known>>,
    /// Every record id the store holds, removed or not.
    taken: BTreeSet<String>,
    /// The words each record's text has had in the store's history.
    past: PastWords,
    /// Reading the bot's own save of the revision followed from: it wrote
    /// texts, never moved a line, so each number is the KR it was.
    own_save: bool,
}

/// One key result (or objective item) as the bot knew it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    id: String,
    kind: Kind,
    number: u32,
    words: String,
}

impl Known {
    fn of(kr: &KeyResult) -> Option<Self> {
        followed_kind(kr.kind).then(|| Self {
            id: kr.id.clone(),
            kind: kr.kind,
            number: kr.number,
            words: words(&kr.text),
        })
    }
}

/// The kinds whose ids follow the record: KRs and objective items. A
/// metric's id is its row's in the metrics table.
fn followed_kind(kind: Kind) -> bool {
    matches!(kind, Kind::KeyResult | Kind::ObjectiveItem)
}

/// A text's words, whitespace collapsed.
pub fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Following {
    /// From the records of the page's last synced revision (`base`) and the
    /// store's: `year` holds each KR of the store with its objective's id
    /// (removed ones too); `taken` is every record id the store holds.
    pub fn new(
        base: &FiscalYearRecords,
        year: &[(String, KeyResult)],
        taken: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut known: BTreeMap<String, Vec<Known>> = BTreeMap::new();
        for o in &base.objectives {
            let krs = o.key_results.iter().filter_map(Known::of).collect();
            known.insert(o.id.clone(), krs);
        }
        let on_page: BTreeSet<&str> = known.values().flatten().map(|k| k.id.as_str()).collect();
        let mut elsewhere: BTreeMap<String, Vec<Known>> = BTreeMap::new();
        for (objective, kr) in year {
            if on_page.contains(kr.id.as_str()) {
                continue;
            }
            if let Some(k) = Known::of(kr) {
                elsewhere.entry(objective.clone()).or_default().push(k);
            }
        }
        let mut taken: BTreeSet<String> = taken.into_iter().collect();
        taken.extend(known.values().flatten().map(|k| k.id.clone()));
        Self {
            known,
            elsewhere,
            taken,
            past: PastWords::new(),
            own_save: false,
        }
    }

    /// For reading the bot's own save made on the revision `base` was read
    /// from: the bot rewrote texts (a tracker's words) but moved no line,
    /// so each KR keeps the id its number had; words prove nothing here.
    pub fn of_own_save(base: &FiscalYearRecords) -> Self {
        Self {
            own_save: true,
            ..Self::new(base, &[], [])
        }
    }

    /// With the words each record's text had in the store's history up to
    /// the sync of the revision followed from (later tracker edits say
    /// nothing of what the page's words were): a KR that takes back words
    /// it once had is that KR (a revert), not the one that holds those
    /// words now.
    #[must_use]
    pub fn with_past(mut self, past: PastWords) -> Self {
        self.past = past;
        self
    }

    /// From the page's last synced revision (`base`) and the store's fields
    /// of the year (every record, removed ones too).
    pub fn of_store(base: &FiscalYearRecords, store: &Fields) -> Self {
        let mut year = Vec::new();
        let mut taken = BTreeSet::new();
        for (key, value) in store {
            taken.insert(key.record.clone());
            if key.field != "parent" {
                continue;
            }
            let get = |field: &str| store.get(&FieldKey::new(&key.record, field));
            let (Some(parent), Some(kind), Some(number)) = (
                value.as_str(),
                get("kind").and_then(|v| v.as_str()?.parse::<Kind>().ok()),
                get("number").and_then(|v| u32::try_from(v.as_u64()?).ok()),
            ) else {
                continue;
            };
            let text = get("text").and_then(|v| v.as_str()).unwrap_or("");
            let kr = KeyResult {
                id: key.record.clone(),
                kind,
                number,
                text: text.to_string(),
                managers: Vec::new(),
                baseline: None,
                year_goal: None,
                links: Vec::new(),
                quarters: BTreeMap::new(),
            };
            year.push((parent.to_string(), kr));
        }
        Self::new(base, &year, taken)
    }

    /// Whether the bot knew `objective_id`'s key results.
    pub fn knows(&self, objective_id: &str) -> bool {
        self.known.contains_key(objective_id)
    }

    /// The id of the one KR of `objective_id` (of `kind`) whose words were
    /// `words`: on the revision followed from, else among the objective's
    /// other KRs the store holds (on other pages, or removed). A staff
    /// row's label with those words is that KR's row.
    pub fn id_by_words(&self, objective_id: &str, kind: Kind, words: &str) -> Option<&str> {
        if words.is_empty() || !followed_kind(kind) {
            return None;
        }
        fn one<'k>(krs: Option<&'k Vec<Known>>, kind: Kind, words: &str) -> Option<&'k str> {
            let mut same = krs
                .into_iter()
                .flatten()
                .filter(|k| k.kind == kind && k.words == words);
            match (same.next(), same.next()) {
                (Some(k), None) => Some(k.id.as_str()),
                _ => None,
            }
        }
        one(self.known.get(objective_id), kind, words)
            .or_else(|| one(self.elsewhere.get(objective_id), kind, words))
    }

    /// The id of the KR of `objective_id` (of `kind`) that had `number` on
    /// the revision followed from.
    pub fn id_by_number(&self, objective_id: &str, kind: Kind, number: u32) -> Option<&str> {
        if !followed_kind(kind) {
            return None;
        }
        self.known
            .get(objective_id)?
            .iter()
            .find(|k| k.kind == kind && k.number == number)
            .map(|k| k.id.as_str())
    }
}

/// Gives the key results and items of objective `objective_id` (ids by
/// number, as parsed) the ids of the KRs they are, by the stages of the
/// module's doc. Returns what it could not tell (a KR reworded and
/// renumbered at once), for a person; the ids are then by number.
pub fn follow(following: &Following, objective_id: &str, krs: &mut [KeyResult]) -> Vec<String> {
    let Some(known) = following.known.get(objective_id) else {
        return Vec::new();
    };
    let elsewhere = following
        .elsewhere
        .get(objective_id)
        .map_or(&[][..], Vec::as_slice);
    let mut a = Assigning {
        following,
        known,
        krs,
        words: krs.iter().map(|k| words(&k.text)).collect(),
        idx: (0..krs.len())
            .filter(|&i| followed_kind(krs[i].kind))
            .collect(),
        ids: vec![None; krs.len()],
        used: BTreeSet::new(),
    };
    if following.own_save {
        a.same_numbers();
    }
    a.unchanged();
    a.same_words(known);
    a.same_words(elsewhere);
    a.past_words();
    let doubts = a.reworded_in_place();
    a.new_here(objective_id);
    let ids = a.ids;
    for (kr, id) in krs.iter_mut().zip(ids) {
        if let Some(id) = id {
            kr.id = id;
        }
    }
    doubts
}

/// The ids [`follow`] gives an objective's key results, stage by stage.
struct Assigning<'a> {
    following: &'a Following,
    /// The objective's KRs as last synced.
    known: &'a [Known],
    krs: &'a [KeyResult],
    /// Each KR's words now.
    words: Vec<String>,
    /// The KRs whose ids follow (not metrics).
    idx: Vec<usize>,
    ids: Vec<Option<String>>,
    /// The known ids given so far.
    used: BTreeSet<&'a str>,
}

impl<'a> Assigning<'a> {
    /// The bot's own save: the KR its number was.
    fn same_numbers(&mut self) {
        for &i in &self.idx {
            let kr = &self.krs[i];
            if let Some(k) = self
                .known
                .iter()
                .find(|k| k.kind == kr.kind && k.number == kr.number)
            {
                self.ids[i] = Some(k.id.clone());
                self.used.insert(&k.id);
            }
        }
    }

    /// Stage 1: same number, same words (or words it once had).
    fn unchanged(&mut self) {
        for &i in &self.idx {
            let kr = &self.krs[i];
            let now = &self.words[i];
            let k = self
                .known
                .iter()
                .find(|k| k.kind == kr.kind && k.number == kr.number)
                .filter(|k| {
                    let had = self.following.past.get(&k.id);
                    &k.words == now || had.is_some_and(|p| p.contains(now))
                });
            if let (Some(k), None) = (k, &self.ids[i]) {
                self.ids[i] = Some(k.id.clone());
                self.used.insert(&k.id);
            }
        }
    }

    /// Stage 2: the same words as exactly one KR of `pool` not given yet
    /// (and no other KR of the page with those words).
    fn same_words(&mut self, pool: &'a [Known]) {
        for &i in &self.idx {
            if self.ids[i].is_some() || self.words[i].is_empty() {
                continue;
            }
            let kind = self.krs[i].kind;
            let same_here = self
                .idx
                .iter()
                .filter(|&&j| self.ids[j].is_none() && self.krs[j].kind == kind)
                .filter(|&&j| self.words[j] == self.words[i])
                .count();
            let mut matching = pool.iter().filter(|k| {
                k.kind == kind && k.words == self.words[i] && !self.used.contains(k.id.as_str())
            });
            if let (Some(k), None, 1) = (matching.next(), matching.next(), same_here) {
                self.ids[i] = Some(k.id.clone());
                self.used.insert(&k.id);
            }
        }
    }

    /// Stage 2, last: words that exactly one known KR not given yet had in
    /// the store's history (a revert, then a move).
    fn past_words(&mut self) {
        for &i in &self.idx {
            if self.ids[i].is_some() || self.words[i].is_empty() {
                continue;
            }
            let kind = self.krs[i].kind;
            let mut matching = self.known.iter().filter(|k| {
                k.kind == kind
                    && !self.used.contains(k.id.as_str())
                    && self
                        .following
                        .past
                        .get(&k.id)
                        .is_some_and(|p| p.contains(&self.words[i]))
            });
            if let (Some(k), None) = (matching.next(), matching.next()) {
                self.ids[i] = Some(k.id.clone());
                self.used.insert(&k.id);
            }
        }
    }

    /// Stage 3, reworded in place: the known KR of the same number. Returns
    /// the KRs whose words are closer to another known KR's (a doubt).
    fn reworded_in_place(&mut self) -> Vec<String> {
        let mut doubts = Vec::new();
        for &i in &self.idx {
            if self.ids[i].is_some() {
                continue;
            }
            let kr = &self.krs[i];
            let free = |k: &&Known| k.kind == kr.kind && !self.used.contains(k.id.as_str());
            let Some(k) = self
                .known
                .iter()
                .filter(free)
                .find(|k| k.number == kr.number)
            else {
                continue;
            };
            let here = likeness(&self.words[i], &k.words);
            let closer = self.known.iter().filter(free).find(|o| {
                let like = likeness(&self.words[i], &o.words);
                o.id != k.id && like >= 0.5 && like > here
            });
            if let Some(o) = closer {
                doubts.push(format!(
                    "{} {} was reworded and renumbered at once: its words are closer to those \
                     {} {} had",
                    kr.kind.as_str(),
                    kr.number,
                    o.kind.as_str(),
                    o.number
                ));
            }
            self.ids[i] = Some(k.id.clone());
            self.used.insert(&k.id);
        }
        doubts
    }

    /// Stage 4, new here: the number's id unless a KR of the page (now or as
    /// last synced) holds it, else the lowest id no record holds.
    fn new_here(&mut self, objective_id: &str) {
        let mut assigned: BTreeSet<String> = self.ids.iter().flatten().cloned().collect();
        let known = |id: &str| self.known.iter().any(|k| k.id == id);
        for &i in &self.idx {
            if self.ids[i].is_some() {
                continue;
            }
            let stem = format!("{objective_id}/{}", self.krs[i].kind.id_stem());
            let by_number = format!("{stem}{}", self.krs[i].number);
            let id = if assigned.contains(&by_number) || known(&by_number) {
                (1..)
                    .map(|n| format!("{stem}{n}"))
                    .find(|id| {
                        !assigned.contains(id) && !self.following.taken.contains(id) && !known(id)
                    })
                    .expect("an unbounded range has a free id")
            } else {
                by_number
            };
            assigned.insert(id.clone());
            self.ids[i] = Some(id);
        }
    }
}

/// How alike two texts' words are: the share of distinct lowercase words
/// they have in common (0 to 1).
fn likeness(a: &str, b: &str) -> f64 {
    let set = |s: &str| -> BTreeSet<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let (a, b) = (set(a), set(b));
    let union = a.union(&b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::records::{FiscalYear, Objective};

    const O: &str = "2020-21/o";

    fn kr(number: u32, text: &str) -> KeyResult {
        KeyResult {
            id: format!("{O}/kr{number}"),
            kind: Kind::KeyResult,
            number,
            text: text.into(),
            managers: vec![],
            baseline: None,
            year_goal: None,
            links: vec![],
            quarters: BTreeMap::new(),
        }
    }

    fn base(krs: Vec<KeyResult>) -> FiscalYearRecords {
        FiscalYearRecords {
            fiscal_year: FiscalYear::starting(2020),
            objectives: vec![Objective {
                id: O.into(),
                program: None,
                title: "O".into(),
                managers: vec![],
                description: None,
                status: BTreeMap::new(),
                target_quarter: None,
                department: None,
                key_results: krs,
            }],
        }
    }

    /// The ids `now` gets against `before` (and the doubts).
    fn ids(before: Vec<KeyResult>, mut now: Vec<KeyResult>) -> (Vec<String>, Vec<String>) {
        let f = Following::new(&base(before), &[], []);
        let doubts = follow(&f, O, &mut now);
        let ids = now
            .iter()
            .map(|k| k.id.rsplit('/').next().unwrap().to_string())
            .collect();
        (ids, doubts)
    }

    fn three() -> Vec<KeyResult> {
        vec![
            kr(1, "Ship the API"),
            kr(2, "Use cases for ML"),
            kr(3, "Build machine learning services"),
        ]
    }

    #[test]
    fn a_kr_renumbered_after_a_deletion_keeps_its_id() {
        let now = vec![
            kr(1, "Ship the API"),
            kr(2, "Build machine learning services"),
        ];
        assert_eq!(
            ids(three(), now),
            (vec!["kr1".into(), "kr3".into()], vec![])
        );
    }

    #[test]
    fn swapped_krs_numbered_in_page_order_keep_their_ids() {
        let now = vec![
            kr(1, "Ship the API"),
            kr(2, "Build machine learning services"),
            kr(3, "Use cases for ML"),
        ];
        assert_eq!(ids(three(), now).0, ["kr1", "kr3", "kr2"]);
    }

    #[test]
    fn an_inserted_kr_gets_a_new_id_and_the_others_keep_theirs() {
        let now = vec![
            kr(1, "A new one"),
            kr(2, "Ship the API"),
            kr(3, "Use cases for ML"),
            kr(4, "Build machine learning services"),
        ];
        assert_eq!(ids(three(), now).0, ["kr4", "kr1", "kr2", "kr3"]);
    }

    #[test]
    fn a_kr_reworded_in_place_keeps_its_id() {
        let now = vec![
            kr(1, "Ship the new API"),
            kr(2, "Use cases for ML"),
            kr(3, "Build machine learning services"),
        ];
        assert_eq!(
            ids(three(), now),
            (vec!["kr1".into(), "kr2".into(), "kr3".into()], vec![])
        );
    }

    #[test]
    fn reworded_and_renumbered_at_once_is_a_doubt_not_a_guess() {
        let now = vec![
            kr(1, "Ship the API"),
            kr(2, "Build machine learning services quickly"),
        ];
        let (_, doubts) = ids(three(), now);
        assert_eq!(doubts.len(), 1, "{doubts:?}");
        assert!(doubts[0].contains("key-result 2") && doubts[0].contains("key-result 3"));
    }

    #[test]
    fn a_new_kr_never_takes_an_id_the_store_holds() {
        let f = Following::new(
            &base(three()),
            &[(O.to_string(), kr(4, "Gone"))],
            [format!("{O}/kr4")],
        );
        let mut now = vec![
            kr(1, "New"),
            kr(2, "Ship the API"),
            kr(3, "Use cases for ML"),
            kr(4, "Build machine learning services"),
        ];
        follow(&f, O, &mut now);
        assert_eq!(now[0].id, format!("{O}/kr5"));
    }

    #[test]
    fn a_removed_kr_whose_words_come_back_gets_its_id_back() {
        let f = Following::new(
            &base(vec![kr(1, "Ship the API")]),
            &[(O.to_string(), kr(2, "Use cases for ML"))],
            [format!("{O}/kr2")],
        );
        let mut now = vec![kr(1, "Use cases for ML"), kr(2, "Ship the API")];
        follow(&f, O, &mut now);
        assert_eq!(now[0].id, format!("{O}/kr2"));
        assert_eq!(now[1].id, format!("{O}/kr1"));
    }

    #[test]
    fn the_same_words_twice_are_not_followed_by_words() {
        let now = vec![kr(1, "Use cases for ML"), kr(2, "Use cases for ML")];
        assert_eq!(ids(three(), now).0, ["kr1", "kr2"]);
    }
}
