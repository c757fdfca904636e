//! `[targets]`: named lists of chats and topics, each entry parsed into a [`TargetRef`] (every
//! form of Telegram link), a repeated target refused at its line.

use std::collections::BTreeMap;

use smb_domain::TargetRef;
use toml::Spanned;

use super::ConfigError;
use super::located::Ctx;

/// The lists by name. An entry that is not a target, or one listed twice in its list, is the
/// error `targets.LIST[N]` at its line.
pub(super) fn section(
    ctx: &Ctx,
    lists: &BTreeMap<String, Vec<Spanned<String>>>,
) -> Result<BTreeMap<String, Vec<TargetRef>>, ConfigError> {
    let mut target_lists = BTreeMap::new();
    for (list, entries) in lists {
        let mut parsed: Vec<TargetRef> = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let key = || format!("targets.{list}[{}]", i + 1);
            let t =
                TargetRef::parse(e.get_ref()).map_err(|err| ctx.at(e, key(), err.to_string()))?;
            if parsed.contains(&t) {
                return Err(ctx.at(e, key(), format!("{t} is listed twice; remove one")));
            }
            parsed.push(t);
        }
        target_lists.insert(list.clone(), parsed);
    }
    Ok(target_lists)
}
