//! The follow-ups to our own posts (issue 15) on real Telegram: edit (messages.editMessage),
//! delete (messages.deleteMessages with `revoke` in a basic group, channels.deleteMessages
//! elsewhere), pin and unpin (messages.updatePinnedMessage), albums (messages.uploadMedia per
//! new file, then messages.sendMultiMedia) and survival (messages.getMessages /
//! channels.getMessages, one call per chat). grammers' high-level client lacks most of them,
//! so each is the raw TL function through [`AccountClient::invoke`]; peers come from the
//! gateway's cache like a send's.

use grammers_tl_types as tl;
use smb_domain::{SendError, TargetRef};
use smb_engine::{AlbumRequest, EditRequest, Edited, PinChange, PostState, SentAlbum};
use tracing::{debug, info, warn};

use super::{Account, GrammersGateway, format_text, reference_to, rpc, sent_id, topic_reply};

/// Telegram takes at most this many ids per delete or getMessages call.
const IDS_PER_CALL: usize = 100;

/// A message id as Telegram's TL carries it (int32); one that does not fit was never
/// Telegram's: MESSAGE_ID_INVALID, as Telegram answers an id it does not know.
fn tl_id(id: i64) -> Result<i32, SendError> {
    i32::try_from(id).map_err(|_| rpc("MESSAGE_ID_INVALID"))
}

fn tl_ids(ids: &[i64]) -> Result<Vec<i32>, SendError> {
    ids.iter().map(|id| tl_id(*id)).collect()
}

fn input_channel(peer: &tl::enums::InputPeer) -> Option<tl::enums::InputChannel> {
    match peer {
        tl::enums::InputPeer::Channel(c) => Some(
            tl::types::InputChannel {
                channel_id: c.channel_id,
                access_hash: c.access_hash,
            }
            .into(),
        ),
        _ => None,
    }
}

/// The `grouped_id` of the first new message in a send's answer.
fn grouped_id(updates: &tl::enums::Updates) -> Option<i64> {
    let list = match updates {
        tl::enums::Updates::Updates(u) => &u.updates,
        tl::enums::Updates::Combined(u) => &u.updates,
        _ => return None,
    };
    list.iter().find_map(|u| {
        let m = match u {
            tl::enums::Update::NewMessage(m) => &m.message,
            tl::enums::Update::NewChannelMessage(m) => &m.message,
            _ => return None,
        };
        match m {
            tl::enums::Message::Message(m) => m.grouped_id,
            _ => None,
        }
    })
}

impl GrammersGateway {
    async fn prepared(
        &self,
        account: &str,
        target: &TargetRef,
    ) -> Result<(&Account, tl::enums::InputPeer), SendError> {
        let a = self.account(account)?;
        a.client.before_call()?;
        let peer = self.peer(account, a, target).await?;
        Ok((a, peer))
    }

    /// A chat error after a follow-up: forget the cached peer, as a send does.
    async fn after_error(&self, account: &str, a: &Account, target: &TargetRef, e: &SendError) {
        if e.code() == "PEER_ID_INVALID" || e.code() == "CHANNEL_INVALID" {
            self.forget(account, a, target).await;
        }
    }

    pub(super) async fn edit_post(&self, req: EditRequest<'_>) -> Result<Edited, SendError> {
        let (text, entities) = format_text(req.text, req.format).map_err(|e| {
            warn!(account = req.account, target = %req.target, error = %e, "the text cannot be sent");
            rpc(smb_domain::FORMAT_INVALID)
        })?;
        let id = tl_id(req.message_id)?;
        let (a, peer) = self.prepared(req.account, req.target).await?;
        let r = a
            .client
            .invoke(&tl::functions::messages::EditMessage {
                no_webpage: !req.link_preview,
                invert_media: false,
                peer,
                id,
                message: Some(text),
                media: None,
                reply_markup: None,
                entities,
                schedule_date: None,
                schedule_repeat_period: None,
                quick_reply_shortcut_id: None,
                rich_message: None,
            })
            .await;
        match r {
            Ok(_) => {
                debug!(account = req.account, target = %req.target, message_id = id, "edited");
                Ok(Edited::Changed)
            }
            Err(e) if e.is("MESSAGE_NOT_MODIFIED") => {
                info!(account = req.account, target = %req.target, message_id = id, "already so (MESSAGE_NOT_MODIFIED)");
                Ok(Edited::Unchanged)
            }
            Err(e) => {
                let e = SendError::from(e);
                self.after_error(req.account, a, req.target, &e).await;
                Err(e)
            }
        }
    }

    pub(super) async fn delete_posts(
        &self,
        account: &str,
        target: &TargetRef,
        message_ids: &[i64],
    ) -> Result<u32, SendError> {
        let ids = tl_ids(message_ids)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let (a, peer) = self.prepared(account, target).await?;
        let mut deleted = 0u32;
        for chunk in ids.chunks(IDS_PER_CALL) {
            let r = match input_channel(&peer) {
                Some(channel) => {
                    a.client
                        .invoke(&tl::functions::channels::DeleteMessages {
                            channel,
                            id: chunk.to_vec(),
                        })
                        .await
                }
                None => {
                    a.client
                        .invoke(&tl::functions::messages::DeleteMessages {
                            revoke: true,
                            id: chunk.to_vec(),
                        })
                        .await
                }
            };
            match r {
                Ok(tl::enums::messages::AffectedMessages::Messages(m)) => {
                    deleted += u32::try_from(m.pts_count).unwrap_or(0);
                }
                Err(e) => {
                    let e = SendError::from(e);
                    self.after_error(account, a, target, &e).await;
                    return Err(e);
                }
            }
        }
        debug!(account, target = %target, asked = ids.len(), deleted, "deleted");
        Ok(deleted)
    }

    pub(super) async fn set_pinned(
        &self,
        account: &str,
        target: &TargetRef,
        message_id: i64,
        pin: bool,
        silent: bool,
    ) -> Result<PinChange, SendError> {
        let id = tl_id(message_id)?;
        let (a, peer) = self.prepared(account, target).await?;
        let r = a
            .client
            .invoke(&tl::functions::messages::UpdatePinnedMessage {
                silent,
                unpin: !pin,
                pm_oneside: false,
                peer,
                id,
            })
            .await;
        match r {
            Ok(_) => Ok(PinChange::Changed),
            Err(e) if e.is("CHAT_NOT_MODIFIED") => Ok(PinChange::Unchanged),
            Err(e) => {
                let e = SendError::from(e);
                self.after_error(account, a, target, &e).await;
                Err(e)
            }
        }
    }

    /// The album item's media as a reference Telegram stored: from the account's uploads
    /// (memory, the store's uploads table), or uploaded and turned into one by
    /// messages.uploadMedia (an album takes references only), then kept. Answers the reference
    /// and the file's SHA-256.
    async fn album_media(
        &self,
        account: &str,
        a: &Account,
        peer: &tl::enums::InputPeer,
        path: &std::path::Path,
    ) -> Result<(tl::enums::InputMedia, (String, bool)), SendError> {
        let media = self.media_for(account, a, path).await?;
        if media.reused {
            return Ok((media.input, (media.sha256, media.document)));
        }
        let stored = a
            .client
            .invoke(&tl::functions::messages::UploadMedia {
                business_connection_id: None,
                peer: peer.clone(),
                media: media.input,
            })
            .await?;
        let reference = reference_to(&stored).ok_or_else(|| rpc("MEDIA_INVALID"))?;
        self.remember_upload(account, a, &media.sha256, &reference)
            .await;
        Ok((reference, (media.sha256, media.document)))
    }

    /// One messages.sendMultiMedia of `req`'s items (their media uploaded or re-used first);
    /// answers the call's result and each item's file SHA-256 and kind (document or not).
    async fn album_call(
        &self,
        req: &AlbumRequest<'_>,
        a: &Account,
        peer: &tl::enums::InputPeer,
        caption: &str,
        entities: &Option<Vec<tl::enums::MessageEntity>>,
    ) -> Result<
        (
            Result<tl::enums::Updates, super::super::client::CallError>,
            Vec<(String, bool)>,
        ),
        SendError,
    > {
        let mut multi_media = Vec::with_capacity(req.items.len());
        let mut hashes = Vec::with_capacity(req.items.len());
        for (i, item) in req.items.iter().enumerate() {
            let (media, sha256) = self.album_media(req.account, a, peer, item.media).await?;
            hashes.push(sha256);
            let first = i == 0;
            multi_media.push(
                tl::types::InputSingleMedia {
                    media,
                    random_id: item.random_id,
                    message: if first {
                        caption.to_owned()
                    } else {
                        String::new()
                    },
                    entities: if first { entities.clone() } else { None },
                }
                .into(),
            );
        }
        let r = a
            .client
            .invoke(&tl::functions::messages::SendMultiMedia {
                silent: false,
                background: false,
                clear_draft: false,
                noforwards: false,
                update_stickersets_order: false,
                invert_media: false,
                allow_paid_floodskip: false,
                peer: peer.clone(),
                reply_to: topic_reply(req.target),
                multi_media,
                schedule_date: None,
                send_as: None,
                quick_reply_shortcut: None,
                effect: None,
                allow_paid_stars: None,
            })
            .await;
        Ok((r, hashes))
    }

    pub(super) async fn album(&self, req: AlbumRequest<'_>) -> Result<SentAlbum, SendError> {
        let (caption, entities) = format_text(req.caption, req.format).map_err(|e| {
            warn!(account = req.account, target = %req.target, error = %e, "the caption cannot be sent");
            rpc(smb_domain::FORMAT_INVALID)
        })?;
        let (a, peer) = self.prepared(req.account, req.target).await?;
        let (mut r, hashes) = self.album_call(&req, a, &peer, &caption, &entities).await?;
        if matches!(&r, Err(e) if super::uploads::refused_reuse(e)) {
            // A stored reference went stale (nothing was posted): forget the album's stored
            // uploads, upload those files once more and send with the same random_ids.
            info!(account = req.account, target = %req.target, "Telegram refused a stored upload; uploading the album's files again");
            for (sha256, document) in &hashes {
                self.forget_upload(req.account, a, sha256, *document).await;
            }
            r = self
                .album_call(&req, a, &peer, &caption, &entities)
                .await?
                .0;
        }
        match r {
            Ok(updates) => {
                let ids: Vec<i64> = req
                    .items
                    .iter()
                    .filter_map(|i| sent_id(&updates, i.random_id))
                    .collect();
                let grouped = grouped_id(&updates);
                debug!(account = req.account, target = %req.target, items = ids.len(), grouped_id = ?grouped, "album sent");
                Ok(SentAlbum {
                    message_ids: Some(ids),
                    grouped_id: grouped,
                })
            }
            Err(e) if e.is("RANDOM_ID_DUPLICATE") => {
                info!(account = req.account, target = %req.target, "album already sent (RANDOM_ID_DUPLICATE)");
                Ok(SentAlbum {
                    message_ids: None,
                    grouped_id: None,
                })
            }
            Err(e) => {
                let e = SendError::from(e);
                self.after_error(req.account, a, req.target, &e).await;
                Err(e)
            }
        }
    }

    pub(super) async fn survival(
        &self,
        account: &str,
        target: &TargetRef,
        message_ids: &[i64],
    ) -> Result<Vec<(i64, PostState)>, SendError> {
        let ids = tl_ids(message_ids)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (a, peer) = self.prepared(account, target).await?;
        let mut live = std::collections::HashMap::new();
        for chunk in ids.chunks(IDS_PER_CALL) {
            let id: Vec<tl::enums::InputMessage> = chunk
                .iter()
                .map(|id| tl::types::InputMessageId { id: *id }.into())
                .collect();
            let r = match input_channel(&peer) {
                Some(channel) => {
                    a.client
                        .invoke(&tl::functions::channels::GetMessages { channel, id })
                        .await
                }
                None => {
                    a.client
                        .invoke(&tl::functions::messages::GetMessages { id })
                        .await
                }
            };
            let messages = match r {
                Ok(m) => messages_of(m),
                Err(e) => {
                    let e = SendError::from(e);
                    self.after_error(account, a, target, &e).await;
                    return Err(e);
                }
            };
            for m in messages {
                match m {
                    tl::enums::Message::Message(m) => {
                        live.insert(
                            m.id,
                            PostState::Live {
                                edited: m.edit_date.is_some(),
                                pinned: m.pinned,
                            },
                        );
                    }
                    tl::enums::Message::Service(m) => {
                        live.insert(
                            m.id,
                            PostState::Live {
                                edited: false,
                                pinned: false,
                            },
                        );
                    }
                    tl::enums::Message::Empty(_) => {}
                }
            }
        }
        Ok(ids
            .iter()
            .map(|id| {
                (
                    i64::from(*id),
                    live.get(id).copied().unwrap_or(PostState::Gone),
                )
            })
            .collect())
    }

    /// [`smb_engine::FollowUps::find_own_post`]: messages.search for our own messages in the
    /// chat (`from_id` self), newest first, above `after`.
    pub(super) async fn find_own(
        &self,
        account: &str,
        target: &TargetRef,
        text: &str,
        format: smb_domain::TextFormat,
        after: Option<i64>,
    ) -> Result<Option<i64>, SendError> {
        let (want, _) = format_text(text, format).map_err(|_| rpc(smb_domain::FORMAT_INVALID))?;
        let min_id = match after {
            Some(id) => tl_id(id)?,
            None => 0,
        };
        let (a, peer) = self.prepared(account, target).await?;
        let r = a
            .client
            .invoke(&tl::functions::messages::Search {
                peer,
                q: String::new(),
                from_id: Some(tl::enums::InputPeer::PeerSelf),
                saved_peer_id: None,
                saved_reaction: None,
                top_msg_id: None,
                filter: tl::enums::MessagesFilter::InputMessagesFilterEmpty,
                min_date: 0,
                max_date: 0,
                offset_id: 0,
                add_offset: 0,
                limit: smb_engine::FIND_OWN_LIMIT,
                max_id: 0,
                min_id,
                hash: 0,
            })
            .await;
        let messages = match r {
            Ok(m) => messages_of(m),
            Err(e) => {
                let e = SendError::from(e);
                self.after_error(account, a, target, &e).await;
                return Err(e);
            }
        };
        let found = messages
            .into_iter()
            .filter_map(|m| match m {
                tl::enums::Message::Message(m) if m.out && m.message == want && m.id > min_id => {
                    Some(m.id)
                }
                _ => None,
            })
            .max();
        debug!(account, target = %target, found = ?found, "looked up our own post");
        Ok(found.map(i64::from))
    }
}

/// The messages of any `messages.Messages` answer (getMessages, search): plain, a slice, a
/// channel's; `NotModified` carries none.
fn messages_of(m: tl::enums::messages::Messages) -> Vec<tl::enums::Message> {
    match m {
        tl::enums::messages::Messages::Messages(m) => m.messages,
        tl::enums::messages::Messages::Slice(m) => m.messages,
        tl::enums::messages::Messages::ChannelMessages(m) => m.messages,
        tl::enums::messages::Messages::NotModified(_) => Vec::new(),
    }
}
