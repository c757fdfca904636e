//! Uploads (issue 15 albums): a file is uploaded once per account and afterwards named by
//! reference (`inputPhoto` / `inputDocument`: id, access_hash, file_reference). The reference
//! is kept in memory and, when the gateway was given one, in the store's uploads table keyed by
//! (account, SHA-256 of the file's bytes), so a restart does not upload the file again and an
//! edited file (other bytes) is uploaded anew. A re-use Telegram refuses
//! (FILE_REFERENCE_EXPIRED, FILE_REFERENCE_INVALID, MEDIA_EMPTY, MEDIA_INVALID) forgets the
//! reference; the caller uploads once more and repeats the call with the same random_id.

use std::path::Path;

use grammers_tl_types as tl;
use sha2::{Digest, Sha256};
use smb_domain::SendError;
use smb_engine::StoredUpload;
use tracing::{debug, warn};

use super::super::client::CallError;
use super::{Account, GrammersGateway, message_media, mime_for, reference_to, rpc};

/// The in-memory key of an upload: the file's SHA-256 and its kind.
fn key(sha256: &str, document: bool) -> String {
    format!("{sha256}:{}", if document { 'd' } else { 'p' })
}

/// A file's media as a send takes it.
pub(super) struct Media {
    pub(super) input: tl::enums::InputMedia,
    /// SHA-256 of the file's bytes, lowercase hex: with `document`, the key of the uploads
    /// table.
    pub(super) sha256: String,
    /// Sent as a document (else as a photo: [`smb_engine::is_photo`]).
    pub(super) document: bool,
    /// `true`: a stored reference (no upload); `false`: uploaded by this call.
    pub(super) reused: bool,
}

/// Telegram refused a stored reference: the file must be uploaded again.
pub(super) fn refused_reuse(e: &CallError) -> bool {
    [
        "FILE_REFERENCE_EXPIRED",
        "FILE_REFERENCE_INVALID",
        "MEDIA_EMPTY",
        "MEDIA_INVALID",
    ]
    .iter()
    .any(|name| e.is(name))
}

/// The SHA-256 of the file at `path` (read in a blocking task), lowercase hex.
async fn sha256_of(path: &Path) -> std::io::Result<String> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>())
    })
    .await
    .map_err(std::io::Error::other)?
}

fn unreadable(path: &Path, e: &std::io::Error) -> SendError {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            warn!(path = %path.display(), error = %e, "cannot read the media file");
            rpc("MEDIA_FILE_UNREADABLE")
        }
        _ => SendError::Transient(format!("upload failed: {}", e.kind())),
    }
}

/// A stored reference as a send takes it.
pub(super) fn input_of(u: &StoredUpload) -> tl::enums::InputMedia {
    if u.document {
        tl::types::InputMediaDocument {
            spoiler: false,
            id: tl::types::InputDocument {
                id: u.id,
                access_hash: u.access_hash,
                file_reference: u.file_reference.clone(),
            }
            .into(),
            video_cover: None,
            video_timestamp: None,
            ttl_seconds: None,
            query: None,
        }
        .into()
    } else {
        tl::types::InputMediaPhoto {
            spoiler: false,
            live_photo: false,
            id: tl::types::InputPhoto {
                id: u.id,
                access_hash: u.access_hash,
                file_reference: u.file_reference.clone(),
            }
            .into(),
            ttl_seconds: None,
            video: None,
        }
        .into()
    }
}

/// A reference (from [`reference_to`]) as the uploads table keeps it.
fn stored_of(input: &tl::enums::InputMedia) -> Option<StoredUpload> {
    match input {
        tl::enums::InputMedia::Photo(p) => match &p.id {
            tl::enums::InputPhoto::Photo(p) => Some(StoredUpload {
                document: false,
                id: p.id,
                access_hash: p.access_hash,
                file_reference: p.file_reference.clone(),
            }),
            tl::enums::InputPhoto::Empty => None,
        },
        tl::enums::InputMedia::Document(d) => match &d.id {
            tl::enums::InputDocument::Document(d) => Some(StoredUpload {
                document: true,
                id: d.id,
                access_hash: d.access_hash,
                file_reference: d.file_reference.clone(),
            }),
            tl::enums::InputDocument::Empty => None,
        },
        _ => None,
    }
}

impl GrammersGateway {
    /// The media of `path` for `account`: a reference it stored before (memory, then the
    /// uploads table), else the file uploaded now (upload.saveFilePart) as an
    /// `inputMediaUploaded…` (a photo by [`smb_engine::is_photo`], else a document).
    pub(super) async fn media_for(
        &self,
        account: &str,
        a: &Account,
        path: &Path,
    ) -> Result<Media, SendError> {
        let sha256 = sha256_of(path).await.map_err(|e| unreadable(path, &e))?;
        let document = !smb_engine::is_photo(path);
        if let Some(m) = a.media.lock().await.get(&key(&sha256, document)) {
            return Ok(Media {
                input: m.clone(),
                sha256,
                document,
                reused: true,
            });
        }
        if let Some(store) = &self.uploads {
            match store.stored_upload(account, &sha256, document).await {
                Ok(Some(u)) => {
                    let input = input_of(&u);
                    a.media
                        .lock()
                        .await
                        .insert(key(&sha256, document), input.clone());
                    debug!(account, path = %path.display(), "re-using the stored upload");
                    return Ok(Media {
                        input,
                        sha256,
                        document,
                        reused: true,
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(account, error = %e, "the uploads table cannot be read; uploading the file");
                }
            }
        }
        let uploaded = a
            .client
            .client
            .upload_file(path)
            .await
            .map_err(|e| unreadable(path, &e))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file")
            .to_owned();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let input = if !document {
            tl::types::InputMediaUploadedPhoto {
                spoiler: false,
                live_photo: false,
                file: uploaded.raw,
                stickers: None,
                ttl_seconds: None,
                video: None,
            }
            .into()
        } else {
            tl::types::InputMediaUploadedDocument {
                nosound_video: false,
                force_file: true,
                spoiler: false,
                file: uploaded.raw,
                thumb: None,
                mime_type: mime_for(ext.as_deref()).to_owned(),
                attributes: vec![tl::types::DocumentAttributeFilename { file_name: name }.into()],
                stickers: None,
                video_cover: None,
                video_timestamp: None,
                ttl_seconds: None,
            }
            .into()
        };
        Ok(Media {
            input,
            sha256,
            document,
            reused: false,
        })
    }

    /// Keeps `reference` for `account`'s file `sha256`: in memory and in the uploads table
    /// (a failed write is logged: it costs one more upload after a restart).
    pub(super) async fn remember_upload(
        &self,
        account: &str,
        a: &Account,
        sha256: &str,
        reference: &tl::enums::InputMedia,
    ) {
        let Some(u) = stored_of(reference) else {
            return;
        };
        a.media
            .lock()
            .await
            .insert(key(sha256, u.document), reference.clone());
        if let Some(store) = &self.uploads
            && let Err(e) = store
                .remember_upload(account, sha256, &u, jiff::Timestamp::now())
                .await
        {
            warn!(account, error = %e, "the upload could not be kept in the uploads table");
        }
    }

    /// Forgets `account`'s reference to the file `sha256` as a document or a photo (Telegram
    /// refused its re-use).
    pub(super) async fn forget_upload(
        &self,
        account: &str,
        a: &Account,
        sha256: &str,
        document: bool,
    ) {
        a.media.lock().await.remove(&key(sha256, document));
        if let Some(store) = &self.uploads
            && let Err(e) = store.forget_upload(account, sha256, document).await
        {
            warn!(account, error = %e, "the refused upload could not be removed from the uploads table");
        }
    }

    /// After a messages.sendMedia that uploaded its file: the reference to what Telegram
    /// stored, from the sent message, is kept ([`GrammersGateway::remember_upload`]).
    pub(super) async fn remember_sent_media(
        &self,
        account: &str,
        a: &Account,
        sha256: &str,
        updates: &tl::enums::Updates,
    ) {
        let media = match updates {
            tl::enums::Updates::Updates(u) => u.updates.iter().find_map(|u| match u {
                tl::enums::Update::NewMessage(m) => message_media(&m.message),
                tl::enums::Update::NewChannelMessage(m) => message_media(&m.message),
                _ => None,
            }),
            _ => None,
        };
        if let Some(reference) = media.and_then(reference_to) {
            self.remember_upload(account, a, sha256, &reference).await;
        }
    }
}
