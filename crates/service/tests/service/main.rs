//! The use cases against a real PostgreSQL (`testkit::TestDb`), without HTTP:
//! one test binary, a module per use case, the fixture in `fixture.rs`.

mod decide;
mod fixture;
mod namespaces;
mod workers;
