//! Rebuild when a store migration changes: `sqlx::migrate!` embeds them at compile time.
fn main() {
    println!("cargo:rerun-if-changed=src/store/migrations");
}
