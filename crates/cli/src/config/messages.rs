//! `[messages.NAME]`: message sets, inline (`texts`, `[[messages.NAME.items]]`) and/or fetched
//! from a `source` (or the seed's `BUY_SELL_PRICE_…_SHEET_URL`). Inline texts are formatted and
//! measured exactly as they will be sent; a refused one is named by its line.

use std::collections::BTreeMap;

use smb_domain::{Message, MessageError, MessageSet, TextFormat};
use smb_engine::planner::Content;

use super::env::EnvVars;
use super::located::Ctx;
use super::schema::MessageSection;
use super::{ConfigError, MessageSourceInfo};

/// The message sets by name, with how their texts are sent.
pub(super) type Sets = BTreeMap<String, (MessageSet, Content)>;

/// Every set, and the sources of those that have one.
pub(super) fn section(
    ctx: &Ctx,
    sections: &BTreeMap<String, MessageSection>,
    env: &EnvVars,
) -> Result<(Sets, BTreeMap<String, MessageSourceInfo>), ConfigError> {
    let mut sets = Sets::new();
    let mut message_sources = BTreeMap::new();
    for (set_name, m) in sections {
        let (set, content, source) = one_set(ctx, set_name, m, env)?;
        if let Some(source) = source {
            message_sources.insert(set_name.clone(), source);
        }
        sets.insert(set_name.clone(), (set, content));
    }
    Ok((sets, message_sources))
}

/// Where the set's texts come from: its `source`, else the seed's variable for its name.
fn source_of(
    ctx: &Ctx,
    key: &str,
    set_name: &str,
    m: &MessageSection,
    env: &EnvVars,
) -> Result<Option<smb_sources::Source>, ConfigError> {
    if let Some(s) = &m.source {
        return smb_sources::Source::parse(s.get_ref())
            .map(Some)
            .map_err(|e| ctx.at(s, format!("{key}.source"), e.to_string()));
    }
    match smb_sources::seed_env_var(set_name).and_then(|v| env.get(v).map(|(s, _)| (v, s))) {
        Some((var, s)) => smb_sources::Source::parse(s)
            .map(Some)
            .map_err(|e| env.err(var, e.to_string())),
        None => Ok(None),
    }
}

fn one_set(
    ctx: &Ctx,
    set_name: &str,
    m: &MessageSection,
    env: &EnvVars,
) -> Result<(MessageSet, Content, Option<MessageSourceInfo>), ConfigError> {
    let key = format!("messages.{set_name}");
    let source = source_of(ctx, &key, set_name, m, env)?;
    let mut messages: Vec<Message> = m
        .texts
        .iter()
        .map(|t| Message::new(t.get_ref().clone()))
        .collect();
    let mut starts: Vec<usize> = m.texts.iter().map(|t| t.span().start).collect();
    for item in &m.items {
        messages.push(Message {
            text: item.text.get_ref().clone(),
            active: item.active,
            priority: item.priority,
            variant: item.variant.clone(),
        });
        starts.push(item.text.span().start);
    }
    if messages.is_empty() && source.is_none() {
        return Err(ctx.key(
            &key,
            "no messages: add `texts = [\"…\"]`, [[messages.NAME.items]] tables or a `source`",
        ));
    }
    let format = m.format.map_or(TextFormat::Plain, |f| f.0);
    let set = MessageSet::new(set_name.to_owned(), messages);
    // A set that only has a source gets its texts from the store (`messages update`).
    if !set.messages.is_empty()
        && let Err(e) = set.validate(format, m.media.is_some())
    {
        let index = match &e {
            MessageError::TooLong { index, .. }
            | MessageError::Empty { index, .. }
            | MessageError::Format { index, .. }
            | MessageError::BadPriority { index, .. }
            | MessageError::VariantAlone { index, .. }
            | MessageError::VariantMixed { index, .. }
            | MessageError::VariantLabel { index, .. } => Some(*index),
            MessageError::NoActive { .. } => None,
        };
        return Err(
            match index.and_then(|i| starts.get(i.wrapping_sub(1)).copied()) {
                Some(start) => ctx.at_offset(start, &key, e.to_string()),
                None => ctx.key(&key, e.to_string()),
            },
        );
    }
    let content = Content {
        format,
        media: m.media.as_ref().map(|p| p.get_ref().clone()),
        link_preview: m.link_preview.unwrap_or(false),
        ..Content::default()
    };
    let source = source.map(|source| MessageSourceInfo {
        source,
        format,
        media: m.media.is_some(),
    });
    Ok((set, content, source))
}
