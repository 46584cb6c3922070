//! What every request handler and job shares.

use std::sync::Arc;

use object_store::ObjectStore;
use smartbox_store::Db;

use crate::clock::Clock;
use crate::config::Config;
use crate::device_api::DeviceApiState;
use crate::secrets::MasterKey;

/// Shared, cheaply clonable application state.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub config: Config,
    pub db: Db,
    pub blobs: Arc<dyn ObjectStore>,
    pub clock: Arc<dyn Clock>,
    pub master_key: MasterKey,
    /// The device API's caches and its group-commit writer.
    pub device_api: DeviceApiState,
}

impl AppState {
    pub fn new(
        config: Config,
        db: Db,
        blobs: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        master_key: MasterKey,
    ) -> AppState {
        AppState(Arc::new(Inner {
            config,
            device_api: DeviceApiState::new(db.clone()),
            db,
            blobs,
            clock,
            master_key,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
