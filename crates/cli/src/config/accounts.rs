//! `[accounts.NAME]`: the Telegram accounts, with their own `delay_between_chats` (else the
//! global one) and what `run` and `accounts` need to open them (kind, phone, session, proxy).

use std::collections::BTreeMap;

use smb_engine::planner::AccountSpec;

use super::globals::{Globals, duration_at};
use super::located::Ctx;
use super::schema::AccountSection;
use super::{AccountInfo, ConfigError};

/// The planner's view of every account and the rest of what was configured for it, in the
/// same order (by name).
pub(super) fn section(
    ctx: &Ctx,
    sections: &BTreeMap<String, AccountSection>,
    g: &Globals,
) -> Result<(Vec<AccountSpec>, Vec<AccountInfo>), ConfigError> {
    let mut accounts = Vec::new();
    let mut account_info = Vec::new();
    for (acc, a) in sections {
        let delay = match &a.delay_between_chats {
            Some(v) => duration_at(ctx, v, &format!("accounts.{acc}.delay_between_chats"))?,
            None => g.pacing.delay_between_chats,
        };
        accounts.push(AccountSpec {
            name: acc.clone(),
            delay_between_chats: delay,
            jitter: g.pacing.jitter,
        });
        account_info.push(AccountInfo {
            name: acc.clone(),
            kind: a.kind.unwrap_or_default(),
            phone: a.phone.clone(),
            session: a.session.clone(),
            proxy: a.proxy.clone(),
        });
    }
    Ok((accounts, account_info))
}
