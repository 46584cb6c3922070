//! Published firmware images (the bytes live in the blob store) and what devices report about them.

use crate::{Db, Result, on_pool};
use smartbox_domain::DeviceId;

/// A published image.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FirmwareImageRow {
    pub version: String,
    pub size_bytes: i64,
    /// Lowercase hex SHA-256 of the image.
    pub sha256: String,
    /// Lowercase hex ed25519 signature over the SHA-256 digest.
    pub signature: String,
    pub blob_key: String,
    pub created_at: i64,
    /// Offered only through a rollout or a pin, not to every mailbox at once.
    pub staged: bool,
    /// The board it is built for; offered only to mailboxes reporting this revision.
    pub hardware_revision: String,
}

/// A device's report about an image.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FirmwareReportRow {
    pub device_id: String,
    pub version: String,
    pub status: String,
    pub detail: Option<String>,
    pub reported_at: i64,
}

impl Db {
    /// Publishes an image; publishing a version twice is a conflict.
    pub async fn insert_firmware_image(&self, image: &FirmwareImageRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO firmware_images (version, size_bytes, sha256, signature, blob_key, created_at, staged, hardware_revision) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&image.version)
        .bind(image.size_bytes)
        .bind(&image.sha256)
        .bind(&image.signature)
        .bind(&image.blob_key)
        .bind(image.created_at)
        .bind(image.staged)
        .bind(&image.hardware_revision)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The most recently published image every mailbox of `hardware_revision` may have: one published for everyone,
    /// or a staged one whose rollout completed.
    pub async fn latest_firmware(
        &self,
        hardware_revision: &str,
    ) -> Result<Option<FirmwareImageRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT version, size_bytes, sha256, signature, blob_key, created_at, staged, hardware_revision FROM firmware_images i \
             WHERE hardware_revision = $1 AND (NOT staged OR EXISTS (SELECT 1 FROM firmware_rollouts r \
                 WHERE r.version = i.version AND r.state = 'completed')) \
             ORDER BY created_at DESC, version DESC LIMIT 1",
        )
        .bind(hardware_revision)
        .fetch_optional(pool)
        .await)?)
    }

    /// The image of this version.
    pub async fn firmware_by_version(&self, version: &str) -> Result<Option<FirmwareImageRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT version, size_bytes, sha256, signature, blob_key, created_at, staged, hardware_revision FROM firmware_images WHERE version = $1",
        )
        .bind(version)
        .fetch_optional(pool)
        .await)?)
    }

    /// The newest published images first.
    pub async fn recent_firmware(&self, limit: i64) -> Result<Vec<FirmwareImageRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT version, size_bytes, sha256, signature, blob_key, created_at, staged, hardware_revision FROM firmware_images \
             ORDER BY created_at DESC, version DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// Stores a device's report.
    pub async fn insert_firmware_report(&self, report: &FirmwareReportRow) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO firmware_reports (device_id, version, status, detail, reported_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&report.device_id)
        .bind(&report.version)
        .bind(&report.status)
        .bind(&report.detail)
        .bind(report.reported_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// A device's reports, oldest first.
    pub async fn firmware_reports_of_device(
        &self,
        device_id: &DeviceId,
    ) -> Result<Vec<FirmwareReportRow>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT device_id, version, status, detail, reported_at FROM firmware_reports WHERE device_id = $1 \
             ORDER BY reported_at",
        )
        .bind(device_id.as_str())
        .fetch_all(pool)
        .await)?)
    }
}
