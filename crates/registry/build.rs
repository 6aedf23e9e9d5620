// `sqlx::migrate!` embeds the migrations at compile time; without this a
// migration added to the directory is missing from an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
