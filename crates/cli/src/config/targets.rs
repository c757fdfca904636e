//! `[targets]`: named lists of chats and topics, each entry parsed into a [`TargetRef`] (every
//! form of Telegram link), a repeated target refused at its line. An entry may be a table with
//! the chat's rules (`min_gap`, `days`, `hours`, `max_per_day`): they hold for the chat as a
//! whole, so two entries of one chat with different rules are refused.

use std::collections::{BTreeMap, HashMap};

use smb_domain::{Chat, ChatRules, HourWindow, TargetRef, Weekdays};
use toml::Spanned;

use super::ConfigError;
use super::located::Ctx;
use super::schema::{RuledTarget, TargetEntry};

/// The target lists by name.
type TargetLists = BTreeMap<String, Vec<TargetRef>>;

/// The lists by name, and the rules per chat. An entry that is not a target, a bad rule, or
/// one listed twice in its list, is the error `targets.LIST[N]` at its line.
pub(super) fn section(
    ctx: &Ctx,
    lists: &BTreeMap<String, Vec<Spanned<TargetEntry>>>,
) -> Result<(TargetLists, HashMap<Chat, ChatRules>), ConfigError> {
    let mut target_lists = BTreeMap::new();
    // Every entry with its rules (a plain one has none), to compare the entries of one chat.
    let mut entries_of: Vec<(&Spanned<TargetEntry>, String, TargetRef, ChatRules)> = Vec::new();
    for (list, entries) in lists {
        let mut parsed: Vec<TargetRef> = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let key = format!("targets.{list}[{}]", i + 1);
            let (t, r) = match e.get_ref() {
                TargetEntry::Plain(s) => (
                    TargetRef::parse(s).map_err(|err| ctx.at(e, key.clone(), err.to_string()))?,
                    ChatRules::default(),
                ),
                TargetEntry::Ruled(r) => ruled(r).map_err(|m| ctx.at(e, key.clone(), m))?,
            };
            if parsed.contains(&t) {
                return Err(ctx.at(e, key, format!("{t} is listed twice; remove one")));
            }
            parsed.push(t.clone());
            entries_of.push((e, key, t, r));
        }
        target_lists.insert(list.clone(), parsed);
    }
    // A chat's rules hold for all its topics and lists: every entry of one chat carries the
    // same rules (a plain entry none), else the later one in the file is refused, so no
    // entry silently inherits rules written elsewhere (qa e14).
    entries_of.sort_by_key(|(e, ..)| e.span().start);
    let mut rules: HashMap<Chat, ChatRules> = HashMap::new();
    let mut first: HashMap<Chat, (String, ChatRules)> = HashMap::new();
    for (e, key, t, r) in entries_of {
        match first.get(&t.chat) {
            Some((first_key, old)) if *old != r => {
                let chat = t.chat_only();
                let fix = if old.is_empty() {
                    format!(
                        "remove the rules here or write them in {first_key} too; a chat's rules hold for all its topics and lists"
                    )
                } else {
                    format!(
                        "write the same rules here as there, e.g. {}; a chat's rules hold for all its topics and lists",
                        entry_text(&t, old)
                    )
                };
                return Err(ctx.at(
                    e,
                    key,
                    format!("{chat} has other rules in {first_key}: {fix}"),
                ));
            }
            Some(_) => {}
            None => {
                if !r.is_empty() {
                    rules.insert(t.chat.clone(), r.clone());
                }
                first.insert(t.chat.clone(), (key, r));
            }
        }
    }
    Ok((target_lists, rules))
}

/// `{ chat = "…", topic = 9, min_gap = "24h", … }`: the entry `t` would be with `rules`.
fn entry_text(t: &TargetRef, rules: &ChatRules) -> String {
    let mut parts = vec![format!("chat = \"{}\"", t.chat_only())];
    if let Some(topic) = t.topic {
        parts.push(format!("topic = {topic}"));
    }
    if let Some(g) = rules.min_gap {
        let s = g.as_secs();
        let g = match s {
            _ if g.subsec_nanos() != 0 => format!("{}ms", g.as_millis()),
            s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
            s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        };
        parts.push(format!("min_gap = \"{g}\""));
    }
    if let Some(d) = rules.days {
        parts.push(format!("days = \"{d}\""));
    }
    if let Some(h) = rules.hours {
        parts.push(format!("hours = \"{h}\""));
    }
    if let Some(n) = rules.max_per_day {
        parts.push(format!("max_per_day = {n}"));
    }
    format!("{{ {} }}", parts.join(", "))
}

/// A whole number from a TOML value, or what is wrong with it (for `key`).
fn whole(key: &str, v: &toml::Value, example: &str) -> Result<i64, String> {
    match v {
        toml::Value::Integer(n) => Ok(*n),
        toml::Value::String(s) => Err(format!(
            "{key}: \"{s}\" is text; write a whole number without quotes, e.g. {key} = {example}"
        )),
        other => Err(format!(
            "{key}: `{other}` is not a whole number; write e.g. {key} = {example}"
        )),
    }
}

/// One table entry: its target and rules, or what is wrong in words.
fn ruled(r: &RuledTarget) -> Result<(TargetRef, ChatRules), String> {
    let mut t = TargetRef::parse(&r.chat).map_err(|e| format!("chat: {e}"))?;
    if let Some(topic) = &r.topic {
        let topic = whole("topic", topic, "7")?;
        let topic = i32::try_from(topic)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                format!("topic: `{topic}` is not a topic number; a topic is 1 … 2147483647")
            })?;
        if t.topic.is_some_and(|old| old != topic) {
            return Err(format!(
                "topic: {topic} differs from the topic in `{}`; give it once",
                r.chat
            ));
        }
        if t.is_basic_group() {
            return Err("topic: basic groups have no topics; only forum supergroups do".into());
        }
        t = t.in_topic(Some(topic));
    }
    let min_gap = match &r.min_gap {
        Some(v) => {
            let gap = v.get().map_err(|m| format!("min_gap: {m}"))?;
            if gap.is_zero() {
                return Err(
                    "min_gap: a gap of 0 holds nothing; give one such as \"24h\" or \"90m\", or remove `min_gap`"
                        .into(),
                );
            }
            if gap > smb_domain::MIN_GAP_MAX {
                return Err(format!(
                    "min_gap: {:.1} days is longer than 7 days, the longest gap the chat rules keep track of; for a weekly post use days = \"mon\" with max_per_day = 1",
                    gap.as_secs_f64() / 86_400.0
                ));
            }
            Some(gap)
        }
        None => None,
    };
    let days = match &r.days {
        Some(d) => Some(Weekdays::parse(d).map_err(|m| format!("days: {m}"))?),
        None => None,
    };
    let hours = match &r.hours {
        Some(h) => Some(HourWindow::parse(h).map_err(|m| format!("hours: {m}"))?),
        None => None,
    };
    let max_per_day =
        match &r.max_per_day {
            Some(v) => {
                let n = whole("max_per_day", v, "2")?;
                Some(u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                    format!("max_per_day: `{n}` must be a whole number of 1 or more")
                })?)
            }
            None => None,
        };
    Ok((
        t,
        ChatRules {
            min_gap,
            days,
            hours,
            max_per_day,
        },
    ))
}
