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
    let mut rules: HashMap<Chat, ChatRules> = HashMap::new();
    for (list, entries) in lists {
        let mut parsed: Vec<TargetRef> = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let key = || format!("targets.{list}[{}]", i + 1);
            let t = match e.get_ref() {
                TargetEntry::Plain(s) => {
                    TargetRef::parse(s).map_err(|err| ctx.at(e, key(), err.to_string()))?
                }
                TargetEntry::Ruled(r) => {
                    let (t, r) = ruled(r).map_err(|m| ctx.at(e, key(), m))?;
                    if !r.is_empty() {
                        match rules.get(&t.chat) {
                            Some(old) if *old != r => {
                                return Err(ctx.at(
                                    e,
                                    key(),
                                    format!(
                                        "{} already has other rules in another entry; a chat's rules hold for all its topics: write them once, the same in every entry",
                                        t.chat_only()
                                    ),
                                ));
                            }
                            _ => {
                                rules.insert(t.chat.clone(), r);
                            }
                        }
                    }
                    t
                }
            };
            if parsed.contains(&t) {
                return Err(ctx.at(e, key(), format!("{t} is listed twice; remove one")));
            }
            parsed.push(t);
        }
        target_lists.insert(list.clone(), parsed);
    }
    Ok((target_lists, rules))
}

/// One table entry: its target and rules, or what is wrong in words.
fn ruled(r: &RuledTarget) -> Result<(TargetRef, ChatRules), String> {
    let mut t = TargetRef::parse(&r.chat).map_err(|e| format!("chat: {e}"))?;
    if let Some(topic) = r.topic {
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
        match r.max_per_day {
            Some(n) => Some(u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                format!("max_per_day: `{n}` must be a whole number of 1 or more")
            })?),
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
