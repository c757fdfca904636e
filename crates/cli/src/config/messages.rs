//! `[messages.NAME]`: message sets, inline (`texts`, `[[messages.NAME.items]]`) and/or fetched
//! from a `source` (or the seed's `BUY_SELL_PRICE_…_SHEET_URL`). Inline texts are formatted and
//! measured exactly as they will be sent; a refused one is named by its line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use smb_domain::{Message, MessageError, MessageSet, TextFormat};
use smb_engine::planner::Content;
use smb_engine::{ALBUM_MAX_ITEMS, ALBUM_MIN_ITEMS};

use super::env::EnvVars;
use super::located::Ctx;
use super::schema::{MediaSetting, MessageSection};
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
    let (media, album) = media_of(ctx, &key, m.media.as_ref())?;
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
        media,
        album,
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

/// The set's `media`: one file (`Content::media`), or an album's files (`Content::album`,
/// issue 15): 2–[`ALBUM_MAX_ITEMS`] files, all photos or all documents (Telegram's
/// messages.sendMultiMedia refuses more with MULTI_MEDIA_TOO_LONG and a mix with
/// MEDIA_INVALID). A list of one file is that file alone. Whether each file can be read is
/// [`super::check_media`]'s. Errors name the file as `messages.NAME.media[3]`, counted from 1
/// as `check` counts a list's items.
fn media_of(
    ctx: &Ctx,
    key: &str,
    media: Option<&MediaSetting>,
) -> Result<(Option<PathBuf>, Vec<PathBuf>), ConfigError> {
    let items = match media {
        None => return Ok((None, Vec::new())),
        Some(MediaSetting::One(p)) => return Ok((Some(p.get_ref().clone()), Vec::new())),
        Some(MediaSetting::Many(start, items)) => match items.as_slice() {
            [] => {
                return Err(ctx.at_offset(
                    *start,
                    format!("{key}.media"),
                    format!(
                        "an empty list: give an album's files ({ALBUM_MIN_ITEMS}–{ALBUM_MAX_ITEMS}, such as [\"a.jpg\", \"b.jpg\"]), one file (\"price.png\"), or remove `media`"
                    ),
                ));
            }
            [one] => return Ok((Some(one.get_ref().clone()), Vec::new())),
            items => items,
        },
    };
    if let Some(extra) = items.get(ALBUM_MAX_ITEMS) {
        return Err(ctx.at(
            extra,
            format!("{key}.media[{}]", ALBUM_MAX_ITEMS + 1),
            format!(
                "{} files: Telegram takes at most {ALBUM_MAX_ITEMS} in one album (messages.sendMultiMedia answers MULTI_MEDIA_TOO_LONG); keep {ALBUM_MAX_ITEMS} here and put the rest into another message set",
                items.len()
            ),
        ));
    }
    let first_photo = smb_engine::is_photo(items[0].get_ref());
    let kind = |photo: bool| if photo { "a photo" } else { "a document" };
    for (i, item) in items.iter().enumerate().skip(1) {
        if smb_engine::is_photo(item.get_ref()) != first_photo {
            return Err(ctx.at(
                item,
                format!("{key}.media[{}]", i + 1),
                format!(
                    "`{}` is {} and `{}` (the first file) {}: Telegram groups photos (.jpg, .jpeg, .png, .webp) only with photos and documents only with documents (messages.sendMultiMedia refuses a mix with MEDIA_INVALID); put them into two message sets",
                    item.get_ref().display(),
                    kind(!first_photo),
                    items[0].get_ref().display(),
                    kind(first_photo),
                ),
            ));
        }
    }
    Ok((None, items.iter().map(|p| p.get_ref().clone()).collect()))
}
