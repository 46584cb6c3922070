//! Actions on the customer's own account: change the password (the current one required, weak
//! ones refused by [`crate::accounts::password_rules`]), change the email (the current password
//! required, confirmed by a single-use link sent to the new address, the old address told once
//! it changed) and sign out every other session. A password change also signs out the other
//! sessions: whoever knew the old one is out. An email change keeps them: they are the
//! account's, not the address's.

use smartbox_billing::engine::ReturnCause;
use smartbox_domain::{DeviceId, Email, UserId};
use smartbox_store::changes::{AuditRecord, Change, Changes};
use smartbox_store::{EmailChanged, NewEmailChange, SessionRow, StoreError};

use super::{Actor, ServiceError};
use crate::accounts::mail::{self, Mail};
use crate::accounts::password_rules;
use crate::accounts::tokens::{random_token, token_hash};
use crate::passwords::HashingError;
use crate::state::AppState;

/// The customer acting, and the session they act from (which stays signed in).
#[derive(Debug, Clone, Copy)]
pub struct Own<'a> {
    pub user_id: &'a str,
    pub session_token_hash: &'a str,
}

fn busy(err: HashingError) -> ServiceError {
    match err {
        HashingError::Busy => ServiceError::Busy,
        HashingError::Failed(why) => ServiceError::Internal(anyhow::anyhow!(why)),
    }
}

fn audit(state: &AppState, actor: &Actor, user_id: &str, action: &str) -> Change {
    Change::Audit(AuditRecord {
        at: state.clock.now_ms(),
        actor: actor.audit_name(),
        entity_type: "user".to_owned(),
        entity_id: user_id.to_owned(),
        action: action.to_owned(),
        detail: serde_json::json!({ "cause": actor.default_reason() }).to_string(),
    })
}

/// Changes the password of `own.user_id` after checking `current`; signs out the other
/// sessions in the same transaction.
pub async fn change_password(
    state: &AppState,
    own: Own<'_>,
    current: &str,
    new: &str,
) -> Result<(), ServiceError> {
    let actor = Actor::customer(own.user_id);
    let user = state
        .db
        .user_by_id(own.user_id)
        .await?
        .ok_or_else(|| ServiceError::not_found("account", own.user_id))?;
    check_password(state, &user, current).await?;
    if let Some(why) = password_rules::refusal(new, &user.email) {
        return Err(ServiceError::Invalid {
            code: "weak_password",
            message: why.to_owned(),
        });
    }
    let hash = state.hashing.hash(new.to_owned()).await.map_err(busy)?;
    let mut changes = Changes::new();
    changes.push(Change::SetPasswordHash {
        user_id: user.id.clone(),
        password_hash: hash,
    });
    changes.push(Change::EndOtherSessions {
        user_id: user.id.clone(),
        keep_token_hash: own.session_token_hash.to_owned(),
    });
    changes.push(audit(state, &actor, &user.id, "change_password"));
    state.db.apply_changes(&changes).await?;
    Ok(())
}

/// How long an email-change link works.
pub const EMAIL_LINK_MS: i64 = 24 * 60 * 60 * 1000;

/// Checks the account's current password.
async fn check_password(
    state: &AppState,
    user: &smartbox_store::UserRow,
    password: &str,
) -> Result<(), ServiceError> {
    let verified = state
        .hashing
        .verify(password.to_owned(), user.password_hash.clone())
        .await
        .map_err(busy)?;
    if verified {
        Ok(())
    } else {
        Err(ServiceError::Invalid {
            code: "wrong_password",
            message: "The current password is not right.".to_owned(),
        })
    }
}

/// Asks to move the account to `new_email`: after the current password, the address is
/// checked (valid, not the current one, not another account's) and a link that works once,
/// within [`EMAIL_LINK_MS`], is emailed to it (an older pending link stops working). The email
/// stays as it is until the link is opened. Returns the new address as normalised.
pub async fn request_email_change(
    state: &AppState,
    own: Own<'_>,
    password: &str,
    new_email: &str,
) -> Result<String, ServiceError> {
    let user = state
        .db
        .user_by_id(own.user_id)
        .await?
        .ok_or_else(|| ServiceError::not_found("account", own.user_id))?;
    check_password(state, &user, password).await?;
    let email = Email::parse(new_email).map_err(|err| ServiceError::Invalid {
        code: "invalid_email",
        message: err.to_string(),
    })?;
    if email.as_str() == user.email {
        return Err(ServiceError::Invalid {
            code: "same_email",
            message: format!("{} is already your email.", user.email),
        });
    }
    if state.db.user_by_email(email.as_str()).await?.is_some() {
        return Err(ServiceError::Conflict(format!(
            "{} belongs to another account.",
            email.as_str()
        )));
    }
    let token = random_token();
    let now = state.clock.now_ms();
    state
        .db
        .insert_email_change(&NewEmailChange {
            token_hash: &token_hash(&token),
            user_id: &UserId::new(user.id.as_str()),
            new_email: email.as_str(),
            now,
            expires_at: now + EMAIL_LINK_MS,
        })
        .await?;
    let mut changes = Changes::new();
    changes.push(audit(
        state,
        &Actor::customer(own.user_id),
        &user.id,
        "request_email_change",
    ));
    state.db.apply_changes(&changes).await?;
    let link = format!(
        "{}/account/email/confirm?token={token}",
        state.config.public_url
    );
    mail::send(
        &state.config,
        Mail {
            to: email.as_str().to_owned(),
            subject: "Confirm your new Smart Mailbox email".to_owned(),
            body: format!(
                "Someone asked to use this address for the Smart Mailbox account {}.\n\n\
                 To confirm, open this link within 24 hours:\n{link}\n\n\
                 If it was not you, ignore this email; nothing changes.\n",
                user.email
            ),
        },
    )
    .await;
    Ok(email.as_str().to_owned())
}

/// The new address a pending link names; "not found" when the link is unknown, used or
/// expired.
pub async fn pending_email_change(state: &AppState, token: &str) -> Result<String, ServiceError> {
    state
        .db
        .pending_email_change(&token_hash(token), state.clock.now_ms())
        .await?
        .map(|(_, email)| email)
        .ok_or_else(|| ServiceError::not_found("email link", "given"))
}

/// Confirms a change with its link: the account's email becomes the new address (audited),
/// the link and any other pending one stop working, and the old address is told. "Not found"
/// for a link unknown, used or expired; a conflict when another account took the address
/// meanwhile.
pub async fn confirm_email_change(
    state: &AppState,
    token: &str,
) -> Result<EmailChanged, ServiceError> {
    let hash = token_hash(token);
    let now = state.clock.now_ms();
    let Some((user_id, _)) = state.db.pending_email_change(&hash, now).await? else {
        return Err(ServiceError::not_found("email link", "given"));
    };
    let actor = Actor::customer(user_id.as_str()).audit_name();
    let changed = match state.db.confirm_email_change(&hash, now, &actor).await {
        Ok(Some(changed)) => changed,
        Ok(None) => return Err(ServiceError::not_found("email link", "given")),
        Err(StoreError::Conflict(why)) => return Err(ServiceError::Conflict(why)),
        Err(err) => return Err(err.into()),
    };
    mail::send(
        &state.config,
        Mail {
            to: changed.old_email.clone(),
            subject: "Your Smart Mailbox email was changed".to_owned(),
            body: format!(
                "The email of your Smart Mailbox account is now {}; this address gets no more \
                 messages about it.\n\n\
                 If it was not you, reply to this message at once.\n",
                changed.new_email
            ),
        },
    )
    .await;
    Ok(changed)
}

/// The account's live sessions, newest first.
pub async fn sessions(state: &AppState, own: Own<'_>) -> Result<Vec<SessionRow>, ServiceError> {
    Ok(state
        .db
        .sessions_of_user(&UserId::new(own.user_id), state.clock.now_ms())
        .await?)
}

/// Signs out every session of the account but `own`'s; answers how many ended.
pub async fn sign_out_others(state: &AppState, own: Own<'_>) -> Result<usize, ServiceError> {
    let others = sessions(state, own)
        .await?
        .iter()
        .filter(|s| s.token_hash != own.session_token_hash)
        .count();
    let actor = Actor::customer(own.user_id);
    let mut changes = Changes::new();
    changes.push(Change::EndOtherSessions {
        user_id: own.user_id.to_owned(),
        keep_token_hash: own.session_token_hash.to_owned(),
    });
    changes.push(audit(state, &actor, own.user_id, "sign_out_other_sessions"));
    state.db.apply_changes(&changes).await?;
    Ok(others)
}

/// The prefix of the address a deleted account is left with (`deleted-<user id>@invalid`): unique,
/// never deliverable (`.invalid` is reserved), and how a retry recognises a finished deletion.
pub const DELETED_EMAIL_PREFIX: &str = "deleted-";

/// The stored password hash of a deleted account: not a PHC string, so no password verifies.
const UNUSABLE_PASSWORD_HASH: &str = "!deleted";

/// Photos deleted per database read.
const PHOTO_BATCH: i64 = 200;

/// What an account deletion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountDeleted {
    /// Mailboxes returned (their live subscription ended at once).
    pub mailboxes_returned: usize,
    /// Photos (each with its thumbnail) deleted from the blob store.
    pub photos_deleted: usize,
}

/// Deletes the account `user_id` (docs/operations.md, "Deleting an account"). A customer must
/// give their password (`Some`); staff and the CLI pass `None`.
///
/// In order, so that a crash anywhere leaves a state the next call finishes (the function is
/// idempotent; a finished deletion answers `Ok` again and changes nothing):
/// 1. every mailbox of the account that can be returned is returned through the billing engine
///    (lifecycle `returned`, live subscription ended at once, dunning canceled; each its own
///    transaction), so nothing is charged again;
/// 2. photos and thumbnails are deleted from the blob store, then their rows (as retention does);
/// 3. one transaction anonymises the user (see [`Change::AnonymiseUser`]: the personal data
///    goes, invoices, payments, usage and the audit log stay) with the audit entry;
/// 4. after the commit, the confirmation email goes to the old address.
pub async fn delete_account(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    password: Option<&str>,
) -> Result<AccountDeleted, ServiceError> {
    let user = state
        .db
        .user_by_id(user_id)
        .await?
        .filter(|u| actor.may_act_for(Some(&u.id)))
        .ok_or_else(|| ServiceError::not_found("account", user_id))?;
    if user.email.starts_with(DELETED_EMAIL_PREFIX) {
        return Ok(AccountDeleted::default());
    }
    if let Some(password) = password {
        let verified = state
            .hashing
            .verify(password.to_owned(), user.password_hash.clone())
            .await
            .map_err(busy)?;
        if !verified {
            return Err(ServiceError::Invalid {
                code: "wrong_password",
                message: "The password is not right; nothing was deleted.".to_owned(),
            });
        }
    }
    let mut done = AccountDeleted::default();
    let mut device_ids: Vec<String> = state
        .db
        .devices_of_owner(&user.id)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    for s in state
        .db
        .subscriptions_of_customer(&UserId::new(user.id.as_str()))
        .await?
    {
        if !device_ids.contains(&s.device_id) {
            device_ids.push(s.device_id);
        }
    }
    let by = actor.audit_name();
    for device_id in &device_ids {
        let Some(device) = state.db.device_by_id(device_id).await? else {
            continue;
        };
        if !super::devices::returnable(device.lifecycle_state) {
            continue;
        }
        let cause = ReturnCause {
            actor: &by,
            reason: "the account was deleted",
        };
        state
            .billing()
            .return_device(device_id, state.clock.now(), cause)
            .await?;
        done.mailboxes_returned += 1;
    }
    state.devices_changed();
    for device_id in &device_ids {
        if let Some(live) = state
            .db
            .live_subscription_of_device(&DeviceId::new(device_id))
            .await?
            && live.customer_id == user.id
        {
            return Err(ServiceError::Conflict(format!(
                "The subscription {} could not be ended; nothing personal was deleted yet.",
                live.id
            )));
        }
    }
    loop {
        let photos = state.db.photos_of_customer(&user.id, PHOTO_BATCH).await?;
        for photo in &photos {
            super::mail::delete_photo_blobs(state, &photo.blob_key, photo.thumbnail_key.as_deref())
                .await?;
            state.db.delete_photo(&photo.event_id, photo.idx).await?;
        }
        done.photos_deleted += photos.len();
        if photos.len() < PHOTO_BATCH as usize {
            break;
        }
    }
    let mut changes = Changes::new();
    changes.push(Change::AnonymiseUser {
        user_id: user.id.clone(),
        email: format!("{DELETED_EMAIL_PREFIX}{}@invalid", user.id),
        password_hash: UNUSABLE_PASSWORD_HASH.to_owned(),
    });
    changes.push(Change::Audit(AuditRecord {
        at: state.clock.now_ms(),
        actor: by.clone(),
        entity_type: "user".to_owned(),
        entity_id: user.id.clone(),
        action: "delete_account".to_owned(),
        detail: serde_json::json!({
            "cause": actor.default_reason(),
            "mailboxes_returned": done.mailboxes_returned,
            "photos_deleted": done.photos_deleted,
        })
        .to_string(),
    }));
    state.db.apply_changes(&changes).await?;
    state.photos.forget_customer(&user.id);
    state.devices_changed();
    mail::send(
        &state.config,
        Mail {
            to: user.email,
            subject: "Your Smart Mailbox account was deleted".to_owned(),
            body: "Your Smart Mailbox account has been deleted as you asked.\n\n\
                   Your mailboxes were returned and their subscriptions ended; you will not be \
                   charged again. Your photos and personal details are deleted. Invoices and \
                   payments are kept without your name or address, as accounting law requires.\n\n\
                   If you did not ask for this, reply to this message.\n"
                .to_owned(),
        },
    )
    .await;
    Ok(done)
}
