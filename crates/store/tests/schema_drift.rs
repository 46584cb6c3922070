//! The two migration folders cannot drift apart: both backends are migrated and their schemas
//! compared — tables, columns (types mapped to kinds), nullability, defaults and indexes. The
//! comparison needs PostgreSQL (`SMARTBOX_TEST_POSTGRES_URL`, set by `.ci/run`); that it notices
//! a drift at all is checked on SQLite alone.

use smartbox_store::testing;

#[tokio::test]
async fn sqlite_and_postgresql_migrate_to_the_same_schema() {
    let sqlite = testing::sqlite().await;
    let Some(postgres) = testing::postgres().await else {
        println!(
            "{} is not set: the drift check needs PostgreSQL",
            testing::POSTGRES_URL_VAR
        );
        return;
    };
    let a = sqlite.db.schema().await.expect("the SQLite schema");
    let b = postgres.db.schema().await.expect("the PostgreSQL schema");
    assert!(
        a.tables.len() > 10,
        "the schema was read: {:?}",
        a.tables.keys()
    );

    let differences = a.differences(&b);

    assert!(
        differences.is_empty(),
        "the migration folders drifted (SQLite vs PostgreSQL):\n{}",
        differences.join("\n")
    );
}

#[tokio::test]
async fn a_column_default_or_index_changed_on_one_side_is_reported() {
    let before = testing::sqlite().await;
    let after = testing::sqlite().await;
    testing::execute(
        &after.db,
        "ALTER TABLE devices ADD COLUMN drifted TEXT; \
         DROP INDEX devices_owner; \
         DROP INDEX subscriptions_one_live_per_device; \
         CREATE UNIQUE INDEX subscriptions_one_live_per_device ON subscriptions (device_id) \
         WHERE status = 'active'",
    )
    .await;
    let a = before.db.schema().await.expect("schema");
    let b = after.db.schema().await.expect("schema");

    let differences = a.differences(&b);

    assert_eq!(differences.len(), 3, "{differences:#?}");
    assert!(
        differences[0].starts_with("column devices.drifted"),
        "{differences:#?}"
    );
    assert!(
        differences[1].starts_with("index devices_owner"),
        "{differences:#?}"
    );
    assert!(
        differences[2].starts_with("index subscriptions_one_live_per_device"),
        "{differences:#?}"
    );
    assert!(a.differences(&a).is_empty());
}
