//! Actions on the customer's own account: change the password (the current one required, weak
//! ones refused by [`crate::accounts::password_rules`]) and sign out every other session. A
//! password change also signs out the other sessions: whoever knew the old one is out.

use smartbox_store::SessionRow;
use smartbox_store::changes::{AuditRecord, Change, Changes};

use super::{Actor, ServiceError};
use crate::accounts::password_rules;
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
    let verified = state
        .hashing
        .verify(current.to_owned(), user.password_hash.clone())
        .await
        .map_err(busy)?;
    if !verified {
        return Err(ServiceError::Invalid {
            code: "wrong_password",
            message: "The current password is not right.".to_owned(),
        });
    }
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

/// The account's live sessions, newest first.
pub async fn sessions(state: &AppState, own: Own<'_>) -> Result<Vec<SessionRow>, ServiceError> {
    Ok(state
        .db
        .sessions_of_user(own.user_id, state.clock.now_ms())
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
