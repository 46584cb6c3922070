//! The blob store for photos and firmware images, through `object_store`: a local folder by
//! default (`file://data/blobs`), any S3-protocol server with `s3://bucket/prefix` (credentials and
//! endpoint from the usual `AWS_*` variables, `AWS_ENDPOINT_URL` for non-AWS servers).

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;

/// Opens the store named by `url`.
pub fn open(url: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    if let Some(dir) = url.strip_prefix("file://") {
        std::fs::create_dir_all(dir)
            .map_err(|err| anyhow::anyhow!("SMARTBOX_BLOB_URL: cannot create {dir}: {err}"))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|err| anyhow::anyhow!("SMARTBOX_BLOB_URL: {dir}: {err}"))?;
        return Ok(Arc::new(store));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        // The S3 client speaks TLS through rustls, which needs the process's provider first.
        crate::server::install_crypto_provider();
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            builder = builder
                .with_endpoint(&endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            builder = builder.with_region("us-east-1");
        }
        let store = builder
            .build()
            .map_err(|err| anyhow::anyhow!("SMARTBOX_BLOB_URL: {url}: {err}"))?;
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            return Ok(Arc::new(store));
        }
        return Ok(Arc::new(PrefixStore::new(store, prefix.to_owned())));
    }
    anyhow::bail!("SMARTBOX_BLOB_URL: {url:?} must be file://<folder> or s3://<bucket>[/prefix]")
}
