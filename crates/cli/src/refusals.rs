//! Targets that refused one account while the others go on posting there, as `targets list`
//! and `stats` show them (the store's `account_refusals`, QA F2): one wording in English and
//! Russian, times local to the configuration's zone.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use smb_domain::Lang;
use smb_engine::{StoredRefusal, TargetStatus};

/// The refusals of targets that are on: a disabled target's reason already names the
/// accounts refused, so they are not shown twice (QA F8).
pub fn of_active_targets(
    refusals: Vec<StoredRefusal>,
    statuses: &HashMap<String, TargetStatus>,
) -> Vec<StoredRefusal> {
    refusals
        .into_iter()
        .filter(|r| !matches!(statuses.get(&r.target), Some(TargetStatus::Disabled { .. })))
        .collect()
}

/// `acc1 refused: CHAT_WRITE_FORBIDDEN, re-check 2026-12-01 19:36 MSK` (Russian: `acc1 —
/// отказ: …, перепроверка …`).
pub fn short(r: &StoredRefusal, lang: Lang, tz: &TimeZone) -> String {
    let at = smb_domain::local_minute(r.until, tz);
    match lang {
        Lang::En => format!("{} refused: {}, re-check {at}", r.account, r.code),
        Lang::Ru => format!("{} — отказ: {}, перепроверка {at}", r.account, r.code),
    }
}

/// The reason in `lang` (Russian never embeds the English words).
pub fn words(r: &StoredRefusal, lang: Lang) -> String {
    smb_domain::account_refusal_words(&r.code, &r.reason, lang)
}

/// The refusals of `target` as JSON (`refused_accounts` of `targets list --json`, `stats
/// --json` and the API): `[{account, code, reason, recheck_at}]`, time RFC 3339 UTC.
pub fn json(refusals: &[StoredRefusal], target: &str) -> serde_json::Value {
    refusals
        .iter()
        .filter(|r| r.target == target)
        .map(|r| {
            serde_json::json!({
                "account": r.account,
                "code": r.code,
                "reason": r.reason,
                "recheck_at": smb_domain::rfc3339_seconds(r.until),
            })
        })
        .collect::<Vec<_>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(target: &str) -> StoredRefusal {
        StoredRefusal {
            account: "acc1".into(),
            target: target.into(),
            code: "CHAT_WRITE_FORBIDDEN".into(),
            reason: "CHAT_WRITE_FORBIDDEN: the account may not post here".into(),
            until: "2026-12-01T16:36:00Z".parse().unwrap(),
            at: "2026-11-30T16:36:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_refusal_reads_in_local_time_with_the_zone_in_both_languages() {
        let tz = TimeZone::get("Europe/Moscow").unwrap();
        let r = refusal("@chat");
        assert_eq!(
            short(&r, Lang::En, &tz),
            "acc1 refused: CHAT_WRITE_FORBIDDEN, re-check 2026-12-01 19:36 MSK"
        );
        assert_eq!(
            short(&r, Lang::Ru, &tz),
            "acc1 — отказ: CHAT_WRITE_FORBIDDEN, перепроверка 2026-12-01 19:36 MSK"
        );
        let ru = words(&r, Lang::Ru);
        assert!(!ru.contains("may not post"), "{ru}");
        assert!(ru.contains("CHAT_WRITE_FORBIDDEN"), "{ru}");
    }

    #[test]
    fn refusals_of_disabled_targets_are_left_to_the_disabled_line() {
        let statuses = HashMap::from([(
            "@off".to_owned(),
            TargetStatus::Disabled {
                reason: "x (accounts acc1, acc2)".into(),
                since: "2026-11-30T16:36:00Z".parse().unwrap(),
                recheck_at: None,
            },
        )]);
        let kept = of_active_targets(vec![refusal("@off"), refusal("@on")], &statuses);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].target, "@on");
        let j = json(&kept, "@on");
        assert_eq!(j[0]["recheck_at"], "2026-12-01T16:36:00Z");
        assert_eq!(j[0]["code"], "CHAT_WRITE_FORBIDDEN");
    }
}
